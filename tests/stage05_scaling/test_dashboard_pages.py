"""The dashboard's pages through Django's test client: staff only, read-only but for four
POST actions behind CSRF, every queue-supplied text escaped, the numbers right. The browser
test (test_dashboard.py) drives the same pages against real workers."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from taskqueue import dashboard
from taskqueue.enqueue import enqueue
from taskqueue.models import MinuteStats, PausedQueue, Task
from taskqueue.rollup import roll_up

pytestmark = pytest.mark.django_db

HOSTILE = "<script>document.title='pwned'</script>"
PAGES = ["/dashboard/", "/dashboard/?panels=1", "/dashboard/queues/default/"]


@pytest.fixture
def staff(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize("url", [*PAGES, "/dashboard/tasks/1/"])
def test_pages_are_for_staff_only(url, django_user_model):
    assert Client().get(url).status_code == 302  # to the admin's login
    user = django_user_model.objects.create_user("plain", password="x")
    client = Client()
    client.force_login(user)
    assert client.get(url).status_code == 302


@pytest.mark.parametrize("url", ["/dashboard/queues/default/pause/", "/dashboard/tasks/1/retry/"])
def test_actions_need_post_and_csrf(url, admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
    assert not PausedQueue.objects.exists()


def test_what_a_task_carries_is_shown_as_text(staff):
    task = enqueue("greet", {"name": HOSTILE})
    Task.objects.filter(pk=task.pk).update(
        status="FAILED", error=f"ValueError: {HOSTILE}", finished_at=timezone.now()
    )
    for url in [*PAGES, f"/dashboard/tasks/{task.pk}/"]:
        page = staff.get(url).content.decode()
        assert "<script>document" not in page, url
    assert "&lt;script&gt;document" in staff.get(f"/dashboard/tasks/{task.pk}/").content.decode()
    assert "&lt;script&gt;document" in staff.get("/dashboard/").content.decode()  # failures


def test_queues_row_counts_each_state():
    for _ in range(3):
        enqueue("noop")
    later = enqueue("noop")
    Task.objects.filter(pk=later.pk).update(run_after=timezone.now() + timedelta(hours=1))
    running = enqueue("noop")
    Task.objects.filter(pk=running.pk).update(status="IN_PROGRESS", started_at=timezone.now())
    claimed = enqueue("noop")  # in a worker's batch, not started yet
    Task.objects.filter(pk=claimed.pk).update(status="IN_PROGRESS")
    dead = enqueue("noop")
    Task.objects.filter(pk=dead.pk).update(status="DEAD", finished_at=timezone.now())
    PausedQueue.objects.create(name="emails")

    rows = {row["name"]: row for row in dashboard.queues(["default", "emails"])}

    default = rows["default"]
    counts = ("queued", "due", "claimed", "running", "dead")
    assert tuple(default[count] for count in counts) == (4, 3, 1, 1, 1)
    assert default["oldest_due"] is not None and default["paused_at"] is None
    assert rows["emails"]["queued"] == 0 and rows["emails"]["paused_at"] is not None


def test_pause_retry_and_cancel_from_the_dashboard(staff):
    staff.post("/dashboard/queues/default/pause/")
    assert PausedQueue.objects.get().paused_by == "admin"
    assert "paused" in staff.get("/dashboard/").content.decode()
    staff.post("/dashboard/queues/default/resume/")
    assert not PausedQueue.objects.exists()

    failed = enqueue("reject")
    Task.objects.filter(pk=failed.pk).update(status="FAILED", attempts=1, max_attempts=1)
    response = staff.post(f"/dashboard/tasks/{failed.pk}/retry/", {"next": "/dashboard/"})
    assert response.status_code == 302 and response.url == "/dashboard/"
    failed.refresh_from_db()
    assert (failed.status, failed.max_attempts) == ("QUEUED", 1 + 5)  # a fresh set of attempts

    queued = enqueue("noop")
    staff.post(f"/dashboard/tasks/{queued.pk}/cancel/", {"next": "https://elsewhere.example/"})
    queued.refresh_from_db()
    assert queued.status == "CANCELLED"


def test_an_action_returns_only_to_a_page_of_ours(staff):
    task = enqueue("noop")
    response = staff.post(f"/dashboard/tasks/{task.pk}/cancel/", {"next": "https://evil.example/"})
    assert response.url == "/dashboard/"


def test_search_opens_a_task_or_says_there_is_none(staff):
    task = enqueue("noop")
    assert staff.get(f"/dashboard/tasks/?id={task.pk}").url == f"/dashboard/tasks/{task.pk}/"
    page = staff.get("/dashboard/tasks/?id=nope", follow=True).content.decode()
    assert "No task with id" in page


def test_the_minutes_are_counted_once_after_they_end():
    minute = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=3)
    for waited_ms, status in [(10, "DONE"), (20, "DONE"), (30, "DONE"), (1000, "DEAD")]:
        task = enqueue("noop")
        Task.objects.filter(pk=task.pk).update(
            status=status,
            run_after=minute,
            started_at=minute + timedelta(milliseconds=waited_ms),
            finished_at=minute + timedelta(seconds=1),
        )

    assert roll_up() >= 1
    row = MinuteStats.objects.get(minute=minute)
    assert (row.finished, row.failed) == (3, 1)
    assert row.p50_ms == pytest.approx(25)  # of 10, 20, 30 and 1000 ms
    assert roll_up() == 0  # counted once: the next roll-up starts after it


def test_the_charts_have_axes_units_and_a_time_scale(staff):
    now = timezone.now()
    for minutes_ago, finished in [(30, 600), (20, 1200), (10, 300)]:
        minute = (now - timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)
        MinuteStats.objects.create(minute=minute, finished=finished, failed=0, p50_ms=2, p95_ms=9)

    page = staff.get("/dashboard/").content.decode()

    assert page.count("<polyline") == 3  # finished/s; wait p50 and p95
    assert "tasks/s" in page and ">ms<" in page
    assert ">20<" in page  # the y axis reaches 1,200 a minute: 20 a second
    tick = (now - timedelta(minutes=30)).strftime("%H:")
    assert tick in page  # times on the x axis


def test_the_queues_command_pauses_and_resumes(capsys):
    call_command("queues", "pause", "emails")
    assert PausedQueue.objects.filter(name="emails").exists()
    call_command("queues")
    assert "paused" in capsys.readouterr().out
    call_command("queues", "resume", "emails")
    assert not PausedQueue.objects.exists()
    with pytest.raises(CommandError, match="no queue"):
        call_command("queues", "pause", "nope")
