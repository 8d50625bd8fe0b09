"""Stage 3's worker: many real worker processes, every task run exactly once; the claim commits
before the task runs (claim-and-commit), with the cost that stage 4 pays off."""

import signal

import pytest
from django.db import connection

from taskqueue.claim import claim_batch
from taskqueue.models import Execution, Task
from taskqueue.worker import Worker
from workshop.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def run_burst(**options):
    worker = Worker(claim=claim_batch, burst=True, log=lambda line: None, **options)
    worker.run()
    return worker


def test_runs_each_queued_task_and_marks_it_done():
    tasks = Task.objects.bulk_create(Task(name="greet", kwargs={"name": "Ada"}) for _ in range(3))

    worker = run_burst(batch_size=2)

    assert worker.processed == 3
    for task in Task.objects.filter(pk__in=[t.pk for t in tasks]):
        assert task.status == Task.Status.DONE
        assert task.worker == worker.id


def test_failures_and_unknown_names_fail_the_task_not_the_worker():
    failing = Task.objects.create(name="fail", kwargs={"message": "card declined"})
    unknown = Task.objects.create(name="os.system", kwargs={"command": "rm -rf /"})
    after = Task.objects.create(name="noop")

    run_burst()

    failing.refresh_from_db()
    unknown.refresh_from_db()
    assert failing.status == unknown.status == Task.Status.FAILED
    assert "RuntimeError: card declined" in failing.error
    assert unknown.error.startswith("unknown task 'os.system': not in the registry")
    assert Task.objects.get(pk=after.pk).status == Task.Status.DONE


def wait_for_done(count):
    wait_until(
        lambda: Task.objects.filter(status=Task.Status.DONE).count() == count,
        timeout=120,
        what=f"{count} tasks done",
    )


def test_two_workers_with_stage_2s_race_window_run_no_task_twice(manage):
    """Stage 2's stress test, same 300 ms window: there it ran a whole batch twice."""
    workers = [
        manage("worker", "--batch-size", "10", "--race-window", "0.3", "--poll-interval", "0.05")
        for _ in range(2)
    ]
    for worker in workers:
        worker.wait_for("ready")
    Task.objects.bulk_create(Task(name="noop") for _ in range(40))

    wait_for_done(40)

    for worker in workers:
        assert worker.stop(signal.SIGINT) == 0
    assert Execution.objects.count() == 40
    # Both workers took part: the work was shared, not done by one while the other waited.
    assert Task.objects.values("worker").distinct().count() == 2


def test_ten_thousand_tasks_across_four_workers_each_run_exactly_once(manage):
    Task.objects.bulk_create(Task(name="noop") for _ in range(10_000))

    workers = [manage("worker", "--burst", "--verbosity", "0") for _ in range(4)]

    assert [worker.wait(timeout=300) for worker in workers] == [0, 0, 0, 0]
    # One Execution row per task, and the UNIQUE constraint on it would have made a second
    # run fail loudly.
    assert Execution.objects.count() == 10_000
    assert Execution.objects.values("task").distinct().count() == 10_000
    assert Task.objects.exclude(status=Task.Status.DONE).count() == 0


def test_claim_commits_before_the_task_runs_and_a_killed_worker_leaves_it_stuck(manage):
    task = Task.objects.create(name="pretend_work", kwargs={"ms": 60_000})
    worker = manage("worker", "--poll-interval", "0.05")
    worker.wait_for("ready")

    # Seen from another connection: IN_PROGRESS is committed while the task still runs...
    wait_until(
        lambda: Task.objects.get(pk=task.pk).status == Task.Status.IN_PROGRESS,
        what="the task to be IN_PROGRESS",
    )
    # ...and the worker holds no transaction open while it runs (design (b), claim-and-commit).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND state LIKE 'idle in transaction%%'"
        )
        assert cursor.fetchone()[0] == 0

    worker.send_signal(signal.SIGKILL)
    worker.wait()

    # The cost of claim-and-commit: nobody will ever run it again. Stage 4 adds leases.
    task.refresh_from_db()
    assert task.status == Task.Status.IN_PROGRESS
    assert Execution.objects.filter(task=task).count() == 1
