"""The worker claims as many tasks as it can start soon: tiny tasks in big batches, slow ones
one at a time, so that no worker hoards tasks another could start."""

import re
import signal
import time
from datetime import timedelta

import pytest

from taskqueue.batch import BatchWatch
from taskqueue.claim import claim_batch
from taskqueue.enqueue import enqueue, enqueue_many
from taskqueue.models import Task
from taskqueue.prefetch import MOST, Prefetch
from taskqueue.worker import Worker
from workshop.processes import wait_until
from workshop.testing.logfmt import events

from task_rows import status


def test_the_batch_grows_while_tasks_are_quick_and_shrinks_to_what_fits():
    prefetch = Prefetch()
    sizes = []
    for _ in range(10):
        prefetch.ran(prefetch.size, prefetch.size * 0.0001)  # 0.1 ms a task
        sizes.append(prefetch.size)
    assert sizes == [2, 4, 8, 16, 32, 64, MOST, MOST, MOST, MOST]

    prefetch.ran(MOST, MOST * 0.005)  # 5 ms a task: 20 fit in 0.1 s
    assert prefetch.size == 20
    prefetch.ran(20, 20 * 1.0)  # a second a task
    assert prefetch.size == 1


def test_a_fixed_batch_size_stays_fixed():
    prefetch = Prefetch(fixed=21)
    prefetch.ran(21, 21.0)
    assert prefetch.size == 21


@pytest.mark.django_db(transaction=True)
def test_slow_tasks_are_shared_out_not_hoarded(manage):
    enqueue_many("pretend_work", [{"ms": 500}] * 8)

    supervisor = manage("worker", "-v2", "--processes", "4")

    wait_until(lambda: Task.objects.filter(status="DONE").count() == 8, timeout=60)
    claims = [int(line["tasks"]) for line in events(supervisor.lines, "claim")]
    assert max(claims) == 1  # never more than the task about to start
    workers = {line["worker"] for line in events(supervisor.lines, "task.start")}
    assert len(workers) == 4  # every worker had its share
    assert re.search(r"event=worker.ready .*batch=auto", supervisor.output)
    supervisor.stop(signal.SIGTERM)


@pytest.mark.django_db(transaction=True)
def test_a_result_is_written_while_the_rest_of_its_batch_runs(manage):
    quick = enqueue("pretend_work", {"ms": 300})
    slow = enqueue("pretend_work", {"ms": 60_000})
    supervisor = manage("worker", "-v2", "--batch-size", "2", "--poll-interval", "0.05")
    supervisor.wait_for(f"event=task.start task={slow.pk} ")

    # Written by the worker's batch watch, while the slow task runs: not at the next claim.
    wait_until(lambda: status(quick) == Task.Status.DONE, timeout=10, what="the first DONE")
    assert status(slow) == Task.Status.IN_PROGRESS
    quick.refresh_from_db()
    # started_at is when each really started, not when the batch was claimed: the slow one's
    # is written by its supervisor's next heartbeat.
    wait_until(
        lambda: Task.objects.get(pk=slow.pk).started_at is not None, what="the slow one's start"
    )
    slow.refresh_from_db()
    assert slow.started_at - quick.started_at >= timedelta(seconds=0.25)  # 0.3, give or take
    supervisor.stop(signal.SIGKILL)


@pytest.mark.django_db(transaction=True)
def test_the_unstarted_rest_of_a_batch_over_its_budget_goes_to_an_idle_worker(manage):
    slow = enqueue("pretend_work", {"ms": 60_000})
    rest = [enqueue("noop") for _ in range(3)]
    busy = manage("worker", "-v2", "--batch-size", "4", "--poll-interval", "0.05")
    busy.wait_for(f"event=task.start task={slow.pk} ")
    idle = manage("worker", "-v2", "--poll-interval", "0.05")

    wait_until(lambda: all(status(task) == Task.Status.DONE for task in rest), what="the rest run")
    busy.wait_for('event=task.released tasks=3 reason="the batch ran over its budget"')
    assert [Task.objects.get(pk=task.pk).attempts for task in rest] == [1, 1, 1]  # uncharged
    assert status(slow) == Task.Status.IN_PROGRESS
    for task in rest:
        idle.wait_for(f"event=task.start task={task.pk} ")
    for worker in (busy, idle):
        worker.stop(signal.SIGKILL)


@pytest.mark.django_db(transaction=True)
def test_a_batch_given_back_while_its_worker_is_cut_off_is_not_started_by_it(manage):
    # The first task holds the GIL for 3 s: nothing else of its worker runs meanwhile.
    first = enqueue("hold_the_gil", {"seconds": 3})
    second = enqueue("noop")
    fast = ["--poll-interval", "0.05", "--lease", "1", "--rescue-interval", "0.1"]
    runner = manage("worker", "-v2", "--batch-size", "2", *fast)
    runner.wait_for(f"event=task.start task={first.pk} ")
    runner.send_signal(signal.SIGSTOP)  # its supervisor freezes: no more heartbeats
    watcher = manage("worker", "-v2", *fast)

    wait_until(lambda: status(second) == Task.Status.DONE, what="given back, and run elsewhere")
    runner.wait_for("event=task.released")  # what it held is not its own any more
    runner.send_signal(signal.SIGCONT)
    assert events(runner.lines, "task.start")[1:] == []  # it never started the second
    assert Task.objects.get(pk=second.pk).attempts == 1
    for worker in (runner, watcher):
        worker.stop(signal.SIGKILL)


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_no_heartbeat_vouches_for_starts_none_of_its_batch():
    tasks = [enqueue("noop") for _ in range(3)]
    worker = Worker(batch_size=3)
    worker.watch = BatchWatch(worker.id, worker.completions)  # as run() sets it, not started
    claimed = claim_batch(3, worker.id, ["default"])
    worker.report.vouch(time.monotonic() - 0.001)  # its last heartbeat: a lease ago and more

    assert worker.run_batch(claimed) == 0

    for task in tasks:  # back in the queue, unstarted and uncharged
        task.refresh_from_db()
        assert (task.status, task.attempts) == (Task.Status.QUEUED, 0)
