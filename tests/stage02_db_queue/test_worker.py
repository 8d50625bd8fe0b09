"""Stage 2's worker: runs what is registered, records failures without dying, and with two real
worker processes and the naive claim, runs tasks twice."""

import signal

import pytest
from django.db.models import Count

from taskqueue.claim import claim_naive
from taskqueue.models import Execution, Task
from taskqueue.worker import Worker
from workshop.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def run_burst(**options):
    worker = Worker(claim=claim_naive, burst=True, log=lambda line: None, **options)
    worker.run()
    return worker


def test_runs_each_queued_task_and_marks_it_done():
    tasks = Task.objects.bulk_create(Task(name="greet", kwargs={"name": "Ada"}) for _ in range(3))

    worker = run_burst(batch_size=2)

    assert worker.processed == 3
    for task in Task.objects.filter(pk__in=[t.pk for t in tasks]):
        assert task.status == Task.Status.DONE
        assert task.started_at <= task.finished_at
        assert task.worker == worker.id


def test_a_task_that_raises_is_failed_with_its_traceback_and_the_worker_goes_on():
    failing = Task.objects.create(name="fail", kwargs={"message": "card declined"})
    after = Task.objects.create(name="noop")

    run_burst()

    failing.refresh_from_db()
    assert failing.status == Task.Status.FAILED
    assert "RuntimeError: card declined" in failing.error
    assert "Traceback" in failing.error
    assert Task.objects.get(pk=after.pk).status == Task.Status.DONE


def test_an_unknown_task_name_is_failed_with_a_clear_message_and_the_worker_goes_on():
    unknown = Task.objects.create(name="os.system", kwargs={"command": "rm -rf /"})
    after = Task.objects.create(name="noop")

    run_burst()

    unknown.refresh_from_db()
    assert unknown.status == Task.Status.FAILED
    assert unknown.error.startswith("unknown task 'os.system': not in the registry (known: ")
    assert Task.objects.get(pk=after.pk).status == Task.Status.DONE


def test_arguments_the_function_does_not_take_fail_the_task_not_the_worker():
    wrong = Task.objects.create(name="greet", kwargs={"nome": "Ada"})

    run_burst()

    wrong.refresh_from_db()
    assert wrong.status == Task.Status.FAILED
    assert "unexpected keyword argument 'nome'" in wrong.error


def start_workers(manage, claim, count=2):
    workers = [
        manage(
            "worker",
            "--claim",
            claim,
            "--batch-size",
            "10",
            "--race-window",
            "0.3",
            "--poll-interval",
            "0.05",
        )
        for _ in range(count)
    ]
    for worker in workers:
        worker.wait_for("ready")
    return workers


def run_through_two_workers(manage, claim, tasks=40):
    """Two real worker processes, idle and polling every 50 ms; then a burst of tasks.

    Both workers see the burst within one poll (50 ms) of each other, far inside the 300 ms race
    window, so with the naive claim both SELECT the first batch before either UPDATEs it.
    """
    workers = start_workers(manage, claim)
    Task.objects.bulk_create(Task(name="noop") for _ in range(tasks))
    wait_until(
        lambda: Task.objects.filter(status=Task.Status.DONE).count() == tasks,
        what=f"{tasks} tasks done",
    )
    for worker in workers:
        assert worker.stop(signal.SIGINT) == 0
    return Task.objects.annotate(runs=Count("executions")).filter(runs__gt=1).count()


def test_two_naive_workers_run_tasks_twice(manage):
    ran_twice = run_through_two_workers(manage, "naive")

    assert ran_twice >= 10  # at least the whole first batch
    assert Execution.objects.count() == 40 + ran_twice


def test_two_locked_workers_run_every_task_once(manage):
    assert run_through_two_workers(manage, "locked") == 0
    assert Execution.objects.count() == 40


def test_ctrl_c_stops_the_worker_with_a_friendly_line(manage):
    worker = manage("worker")
    worker.wait_for("ready")

    worker.send_signal(signal.SIGINT)

    assert worker.wait() == 0
    assert worker.output.endswith("Stopped by Ctrl-C after 0 task(s). Bye!")
    assert "Traceback" not in worker.output


def test_ctrl_c_in_the_middle_of_database_work_also_ends_with_the_friendly_line(manage):
    """Ctrl-C while the worker is busy lands inside a query or a commit most of the time; the
    worker stops there and then, and leaves the task it was running IN_PROGRESS."""
    Task.objects.bulk_create(Task(name="noop") for _ in range(5_000))
    for _ in range(5):
        worker = manage("worker", "--poll-interval", "0.05")
        worker.wait_for("DONE task")

        worker.send_signal(signal.SIGINT)

        assert worker.wait() == 0
        assert "Traceback" not in worker.output
        assert worker.lines[-1].startswith("Stopped by Ctrl-C after ")
    assert Task.objects.filter(status=Task.Status.DONE).count() < 5_000
