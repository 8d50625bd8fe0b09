"""Stage 5: an idle worker starts a new task at once because NOTIFY wakes it, not because it
polls fast. Every worker here polls only every 30 s, so a task done within 10 s was started by
a NOTIFY. Without LISTEN (a transaction pooler) the worker polls with a backoff instead."""

import signal
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from taskqueue.enqueue import enqueue
from taskqueue.models import Task, WorkerProcess
from taskqueue.wakeup import Listener, listen_enabled
from workshop.processes import wait_until
from workshop.testing.logfmt import events

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_POLL = ["--poll-interval", "30"]


def done(task) -> bool:
    return Task.objects.get(pk=task.pk).status == Task.Status.DONE


def test_an_idle_listening_worker_is_woken_by_the_enqueue(manage):
    worker = manage("worker", "-v2", *SLOW_POLL)
    (ready,) = events([worker.wait_for("event=worker.ready").string], "worker.ready")
    assert ready["wakeup"] == "notify"
    first = enqueue("noop")
    wait_until(lambda: done(first), timeout=10, what="the first task done")

    # Now idle, in a 30 s wait: the next enqueue must wake it.
    second = enqueue("noop")

    wait_until(lambda: done(second), timeout=10, what="the second task done, well before 30 s")
    worker.stop(signal.SIGTERM)


def test_the_listener_comes_back_after_its_connection_is_cut(manage):
    worker = manage("worker", "-v2", *SLOW_POLL)
    first = enqueue("noop")
    wait_until(lambda: done(first), timeout=10, what="the first task done")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    worker.wait_for("event=listener.error")
    # The listener reconnects within a second; from then on a NOTIFY wakes the worker again.
    wait_until(
        lambda: LISTENING in listening_queries(), timeout=10, what="the listener listening again"
    )
    second = enqueue("noop")

    wait_until(lambda: done(second), timeout=10, what="the second task done, well before 30 s")
    worker.stop(signal.SIGTERM)


LISTENING = "LISTEN taskqueue"


def listening_queries() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def test_without_listen_the_worker_polls_and_still_finds_the_task(manage):
    worker = manage("worker", "-v2", "--no-listen", "--poll-interval", "0.5")
    (ready,) = events([worker.wait_for("event=worker.ready").string], "worker.ready")
    assert ready["wakeup"] == "poll"
    assert LISTENING not in listening_queries()

    task = enqueue("noop")

    wait_until(lambda: done(task), timeout=10, what="the task done by polling")
    worker.stop(signal.SIGTERM)


@pytest.mark.parametrize(
    ("choice", "no_server_side_cursors", "expected"),
    [
        ("auto", False, True),
        ("auto", True, False),  # what Django's docs ask for behind PgBouncer's transaction mode
        ("on", True, True),
        ("off", False, False),
    ],
)
def test_listen_is_chosen_from_the_setting_and_the_connection(
    settings, choice, no_server_side_cursors, expected, monkeypatch
):
    settings.TASKQUEUE_LISTEN = choice
    monkeypatch.setitem(
        connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", no_server_side_cursors
    )
    assert listen_enabled() is expected


def waiting(worker) -> bool:
    """Whether `worker`'s row says it waits for a NOTIFY."""
    (ready,) = events([worker.wait_for("event=worker.ready").string], "worker.ready")
    return WorkerProcess.objects.filter(id=ready["worker"], waiting=True).exists()


def test_a_task_committed_after_the_worker_began_to_wait_wakes_it(manage):
    with transaction.atomic():
        task = enqueue("noop")  # inserted while no worker waits, committed once one does
        worker = manage("worker", "-v2", *SLOW_POLL)
        wait_until(lambda: waiting(worker), timeout=10, what="the worker waiting")

    wait_until(lambda: done(task), timeout=10, what="the task done, well before 30 s")
    worker.stop(signal.SIGTERM)


# A commit slow to become visible (a WAL flush on a busy disk, a synchronous replica), made
# here with a trigger that runs at commit after the NOTIFY trigger (triggers run in the order
# of their names): it waits until the worker says it waits, then a second more.
SLOW_COMMIT = """
CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..400 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM taskqueue_workerprocess WHERE waiting);
        PERFORM pg_sleep(0.05);
    END LOOP;
    PERFORM pg_sleep(1);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER taskqueue_notify_enqueued_slow_commit AFTER INSERT ON taskqueue_task
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();
"""


@pytest.fixture
def slow_commits():
    with connection.cursor() as cursor:
        cursor.execute(SLOW_COMMIT)
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER taskqueue_notify_enqueued_slow_commit ON taskqueue_task")
        cursor.execute("DROP FUNCTION slow_commit()")


def test_a_commit_slow_to_show_still_wakes_the_worker_that_began_to_wait_meanwhile(
    manage, slow_commits
):
    """The NOTIFY trigger looks while the worker is busy (nobody waits, so no NOTIFY), the
    worker then says it waits and looks again before the commit shows: it must wait for that
    commit before its second look (sql.WAKE_LOCK), not sleep 30 s."""
    worker = manage("worker", "-v2", *SLOW_POLL)
    busy = enqueue("pretend_work", {"ms": 1000})
    worker.wait_for(f"event=task.start task={busy.pk} ")

    def enqueue_and_commit():
        with transaction.atomic():
            enqueued.append(enqueue("noop"))
        connection.close()

    enqueued = []
    committer = threading.Thread(target=enqueue_and_commit)
    committer.start()  # its commit sends no NOTIFY, then waits for the worker's flag
    committer.join(timeout=30)
    assert not committer.is_alive()

    wait_until(lambda: done(enqueued[0]), timeout=10, what="the task done, well before 30 s")
    worker.stop(signal.SIGTERM)


def test_a_task_put_back_in_the_queue_wakes_a_waiting_worker(manage):
    task = enqueue("noop")
    Task.objects.filter(pk=task.pk).update(status=Task.Status.IN_PROGRESS, worker="gone")
    worker = manage("worker", "-v2", *SLOW_POLL)
    wait_until(lambda: waiting(worker), timeout=10, what="the worker waiting")

    Task.objects.filter(pk=task.pk).update(status=Task.Status.QUEUED, worker="")  # a give-back

    wait_until(lambda: done(task), timeout=10, what="the task done, well before 30 s")
    worker.stop(signal.SIGTERM)


def test_a_task_not_due_yet_wakes_a_waiting_worker_when_it_comes_due(manage):
    worker = manage("worker", "-v2", *SLOW_POLL)
    wait_until(lambda: waiting(worker), timeout=10, what="the worker waiting")

    task = enqueue("noop", run_after=timezone.now() + timedelta(seconds=2))

    wait_until(lambda: done(task), timeout=10, what="the task done soon after it came due")
    assert Task.objects.get(pk=task.pk).started_at >= task.run_after
    worker.stop(signal.SIGTERM)


def test_a_worker_wakes_for_its_own_queues_only():
    wake = threading.Event()
    listener = Listener(wake, "worker-a", ["emails"])

    listener.heard("default")
    assert not wake.is_set()
    listener.heard("emails")
    assert wake.is_set()
    wake.clear()
    listener.heard("")  # a queue resumed (pause.py): every worker looks
    assert wake.is_set()
