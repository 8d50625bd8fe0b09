"""As in stage 4: SIGTERM and SIGINT stop a real worker cleanly: no new claims, the running task
finishes within the grace period or goes back to the queue, a second signal stops it at once,
and the exit status says which happened."""

import signal

import pytest

from taskqueue.enqueue import enqueue
from taskqueue.models import Task
from taskqueue.shutdown import EXIT_CLEAN, EXIT_FORCED, EXIT_GRACE_EXPIRED

pytestmark = pytest.mark.django_db(transaction=True)

STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT]


def start_worker(manage, *args):
    worker = manage("worker", "-v2", "--poll-interval", "0.05", *args)
    worker.wait_for("event=worker.ready")
    return worker


def statuses(tasks):
    return [Task.objects.get(pk=task.pk).status for task in tasks]


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_the_running_task_finishes_and_the_unstarted_ones_go_back(manage, signum):
    running = enqueue("pretend_work", {"ms": 1500})
    waiting = [enqueue("noop") for _ in range(3)]  # claimed in the same batch, not started
    worker = start_worker(manage, "--grace", "30", "--batch-size", "10")
    worker.wait_for(f"event=task.start task={running.pk} ")

    worker.send_signal(signum)

    assert worker.wait() == EXIT_CLEAN
    assert statuses([running]) == [Task.Status.DONE]
    assert statuses(waiting) == [Task.Status.QUEUED] * 3
    assert [Task.objects.get(pk=t.pk).attempts for t in waiting] == [0, 0, 0]  # not counted
    worker.wait_for(f"event=worker.stopped .* exit=0 signal={signum.name}")
    assert "Traceback" not in worker.output


def test_when_the_grace_period_runs_out_the_task_is_released_to_run_again(manage):
    task = enqueue("pretend_work", {"ms": 60_000})
    worker = start_worker(manage, "--grace", "0.5")
    worker.wait_for(f"event=task.start task={task.pk} ")

    worker.send_signal(signal.SIGTERM)

    assert worker.wait() == EXIT_GRACE_EXPIRED
    task.refresh_from_db()
    assert (task.status, task.worker) == (Task.Status.QUEUED, "")
    assert (task.attempts, task.errors) == (1, [])  # interrupted, not failed: no error recorded
    assert "Traceback" not in worker.output


@pytest.mark.parametrize("signals", [2, 5], ids=["second signal", "five signals"])
def test_a_second_signal_stops_at_once_and_more_change_nothing(manage, signals):
    task = enqueue("pretend_work", {"ms": 60_000})
    worker = start_worker(manage, "--grace", "60")
    worker.wait_for(f"event=task.start task={task.pk} ")

    worker.send_signal(signal.SIGTERM)
    worker.wait_for("event=worker.stopping .*signal=SIGTERM")  # the first one has landed
    for _ in range(signals - 1):
        worker.send_signal(signal.SIGTERM)

    assert worker.wait(timeout=20) == EXIT_FORCED  # long before the 60 s grace period
    assert Task.objects.get(pk=task.pk).status == Task.Status.QUEUED
    assert "Traceback" not in worker.output


def test_an_idle_worker_stops_at_once(manage):
    worker = start_worker(manage, "--poll-interval", "30")

    worker.send_signal(signal.SIGTERM)

    assert worker.wait(timeout=10) == EXIT_CLEAN


def test_a_released_task_is_run_by_the_next_worker(manage):
    task = enqueue("pretend_work", {"ms": 60_000})
    first = start_worker(manage, "--grace", "0.2")
    first.wait_for(f"event=task.start task={task.pk} ")
    first.send_signal(signal.SIGTERM)
    assert first.wait() == EXIT_GRACE_EXPIRED
    Task.objects.filter(pk=task.pk).update(kwargs={"ms": 10})  # make the second run quick

    second = manage("worker", "-v2", "--burst")

    assert second.wait() == EXIT_CLEAN
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.DONE, 2)
    assert (len(task.worker_ids), task.errors) == (2, [])  # run twice, never failed
