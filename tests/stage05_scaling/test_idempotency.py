"""Stage 5, as stage 4: idempotency keys and transactional enqueue, on real PostgreSQL."""

import threading

import pytest
from django.db import transaction

from taskqueue.enqueue import InvalidArguments, enqueue
from taskqueue.models import SentEmail, Task
from taskqueue.registry import UnknownTask
from taskqueue.worker import Worker
from workshop.testing.threads import InThread

pytestmark = pytest.mark.django_db(transaction=True)


def test_enqueueing_a_key_again_returns_the_existing_task():
    first = enqueue("send_welcome_email", {"user_id": 7}, key="welcome:7")
    again = enqueue("send_welcome_email", {"user_id": 7}, key="welcome:7")

    assert again.pk == first.pk
    assert Task.objects.count() == 1


def test_many_enqueuers_racing_with_one_key_make_one_task():
    racers = 8
    start_together = threading.Barrier(racers, timeout=30)

    def enqueue_at_once():
        start_together.wait()
        return enqueue("send_welcome_email", {"user_id": 7}, key="welcome:7").pk

    threads = [InThread(enqueue_at_once) for _ in range(racers)]
    ids = {thread.result() for thread in threads}

    assert len(ids) == 1  # every racer got the same task back, none saw an error
    assert Task.objects.count() == 1


def test_tasks_without_a_key_are_never_deduplicated():
    enqueue("noop")
    enqueue("noop")

    assert Task.objects.count() == 2


def test_an_idempotent_task_run_twice_has_one_effect():
    task = enqueue("send_welcome_email", {"user_id": 7})
    worker = Worker(burst=True)
    worker.run()
    # At least once means it may run again, e.g. after its worker died before marking it DONE.
    Task.objects.filter(pk=task.pk).update(status=Task.Status.QUEUED)
    worker.run()

    assert Task.objects.get(pk=task.pk).attempts == 2
    assert SentEmail.objects.filter(key="welcome:7").count() == 1


@pytest.mark.parametrize(
    ("name", "kwargs", "error"),
    [
        ("launch_missiles", {}, UnknownTask),
        ("greet", {"when": object()}, InvalidArguments),
        ("greet", ["Ada"], InvalidArguments),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(name, kwargs, error):
    with pytest.raises(error):
        enqueue(name, kwargs)

    assert Task.objects.count() == 0


def test_a_task_enqueued_in_a_transaction_that_rolls_back_never_exists(manage):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue("greet", {"name": "Ada"})
        raise RuntimeError("the order could not be saved")

    assert manage("worker", "-v2", "--burst").wait() == 0
    assert Task.objects.count() == 0


def test_a_task_is_invisible_to_workers_until_its_transaction_commits(manage):
    with transaction.atomic():
        task = enqueue("greet", {"name": "Ada"})
        # A worker started now finds nothing to do, and exits (--burst).
        early = manage("worker", "-v2", "--burst")
        assert early.wait() == 0
        assert "event=claim" not in early.output

    late = manage("worker", "-v2", "--burst")
    assert late.wait() == 0
    assert Task.objects.get(pk=task.pk).status == Task.Status.DONE
