"""Stage 5's dashboard in a real headless browser, against real worker processes: an operator
pauses a queue and claims stop, resumes it and they go on; finds a failed task, retries it,
and reads its story; and what a task carries is shown as text, never run as markup.

WORKSHOP_SCREENSHOTS=<folder> saves a screenshot of each page there (`make screenshots`
refreshes the stage 5 README's)."""

import os
from pathlib import Path

import pytest
from django.test import Client
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from taskqueue.enqueue import enqueue
from taskqueue.models import Task
from workshop.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"


def log_in(browser, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    browser.get(f"{live_server.url}/admin/login/")  # a page of the site, to set its cookie
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value})
    browser.set_window_size(1400, 1100)


def screenshot(browser, name: str) -> None:
    if folder := os.environ.get("WORKSHOP_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        height = browser.execute_script("return document.body.scrollHeight")
        browser.set_window_size(1400, max(800, height + 40))
        browser.save_screenshot(str(Path(folder) / f"dashboard-{name}.png"))


def on_row(browser, row_id: str, act):
    """`act(row)` on the element #row_id, again if the page's refresh (every 5 s, it swaps
    the panels) replaced the row in between."""

    def attempt(driver):
        try:
            return act(driver.find_element(By.ID, row_id)) or True
        except WebDriverException:  # stale: "does not belong to the document" and the like
            return False

    return WebDriverWait(browser, 10).until(attempt)


def to_next_page(browser, act) -> None:
    """`act()` (a click that posts a form, a search), then wait for the page it leads to,
    loaded whole: a new document, which has a new `window`, without the mark set here on the
    old one. Read sooner, the browser may still show the old page."""
    browser.execute_script("window.oldPage = true")
    act()

    def arrived(driver) -> bool:
        try:
            return driver.execute_script(
                "return !window.oldPage && document.readyState === 'complete'"
            )
        except WebDriverException:  # between the two pages
            return False

    WebDriverWait(browser, 10).until(arrived, message="no new page came")


def press(browser, row_id: str, button: str) -> None:
    to_next_page(
        browser, lambda: on_row(browser, row_id, lambda r: r.find_element(By.NAME, button).click())
    )


def text(browser, row_id: str) -> str:
    return on_row(browser, row_id, lambda row: row.text)


def statuses(tasks) -> set[str]:
    return set(
        Task.objects.filter(pk__in=[task.pk for task in tasks]).values_list("status", flat=True)
    )


def test_pausing_a_queue_stops_its_claims_and_resuming_restarts_them(
    browser, live_server, admin_user, manage
):
    worker = manage("worker", "-v2", "--queue", "default", "--queue", "emails")
    worker.wait_for("event=worker.ready")
    log_in(browser, live_server, admin_user)
    browser.get(f"{live_server.url}/dashboard/")

    press(browser, "queue-default", "pause")

    assert "paused" in text(browser, "queue-default")
    worker.wait_for(r"event=queues.paused .*paused=default")  # the worker has seen it
    waiting = [enqueue("noop") for _ in range(3)]
    # Enqueued after them, on a queue that is not paused: once it is done, the worker has
    # claimed since the three were committed, and passed them over.
    after = enqueue("send_welcome_email", {"user_id": 1})
    wait_until(lambda: statuses([after]) == {"DONE"}, what="the emails task done")
    assert statuses(waiting) == {"QUEUED"}
    assert set(
        Task.objects.filter(pk__in=[t.pk for t in waiting]).values_list("attempts", flat=True)
    ) == {0}
    browser.get(f"{live_server.url}/dashboard/")
    queued = on_row(
        browser, "queue-default", lambda row: row.find_elements(By.TAG_NAME, "td")[1].text
    )
    assert queued == "3" and "paused" in text(browser, "queue-default")
    screenshot(browser, "overview")

    press(browser, "queue-default", "resume")

    wait_until(lambda: statuses(waiting) == {"DONE"}, what="the paused queue's tasks done")
    assert "running" in text(browser, "queue-default")


def test_a_failed_task_is_found_retried_and_its_story_read(
    browser, live_server, admin_user, manage
):
    worker = manage("worker", "-v2")
    worker.wait_for("event=worker.ready")
    task = enqueue("reject", {"message": HOSTILE})  # fails for good: FAILED at once
    wait_until(lambda: statuses([task]) == {"FAILED"}, what="the task FAILED")
    log_in(browser, live_server, admin_user)
    browser.get(f"{live_server.url}/dashboard/")

    assert HOSTILE in text(browser, f"failure-{task.pk}")  # its last error, as text
    press(browser, f"failure-{task.pk}", "retry")

    wait_until(
        lambda: Task.objects.get(pk=task.pk).attempts == 2 and statuses([task]) == {"FAILED"},
        what="the retried task ran again",
    )
    search = browser.find_element(By.ID, "task-search")
    search.send_keys(str(task.pk))
    to_next_page(browser, search.submit)

    assert browser.title == f"Task #{task.pk}"  # the script in its arguments did not run
    assert HOSTILE in browser.find_element(By.ID, "task-kwargs").text
    attempts = browser.find_elements(By.CSS_SELECTOR, "#attempts tbody tr")
    assert len(attempts) == 2
    worker_child = Task.objects.get(pk=task.pk).worker_ids
    for row, worker_id in zip(attempts, worker_child, strict=True):
        assert worker_id in row.text and "ValueError" in row.text
    attempts[0].find_element(By.TAG_NAME, "summary").click()  # the traceback opens
    assert "Traceback (most recent call last)" in attempts[0].text
    screenshot(browser, "task")


def test_the_overview_keeps_up_without_a_reload(browser, live_server, admin_user, manage):
    log_in(browser, live_server, admin_user)
    browser.get(f"{live_server.url}/dashboard/")
    assert "No live worker" in browser.find_element(By.ID, "workers").text

    worker = manage("worker", "-v2", "--processes", "2")
    worker.wait_for("event=supervisor.ready")

    # The page fetches its panels again every 5 s: both children show up, with their pid.
    WebDriverWait(browser, 20, ignored_exceptions=[WebDriverException]).until(
        lambda driver: (
            len(driver.find_elements(By.CSS_SELECTOR, "#workers tbody tr")) == 2
            and "No live worker" not in driver.find_element(By.ID, "workers").text
        ),
        message="the two worker processes never showed",
    )
    assert "updated" in browser.find_element(By.ID, "status").text
