"""`enqueue_many`: many tasks in one COPY, as a worker expects them; bad input writes nothing."""

import pytest
from django.db import transaction
from django.tasks.exceptions import InvalidTask

from taskqueue.enqueue import InvalidArguments, enqueue_many
from taskqueue.models import Task
from taskqueue.registry import UnknownTask

pytestmark = pytest.mark.django_db


def test_one_row_per_kwargs_with_the_defaults_a_worker_expects():
    count = enqueue_many("greet", [{"name": "Ada"}, {"name": "Bob"}, {}], priority=5)

    assert count == 3
    tasks = list(Task.objects.order_by("id"))
    assert [task.kwargs for task in tasks] == [{"name": "Ada"}, {"name": "Bob"}, {}]
    for task in tasks:
        assert (task.name, task.queue_name) == ("taskqueue.tasks.greet", "default")
        assert task.priority == 5
        assert (task.status, task.attempts, task.args, task.worker_ids) == ("QUEUED", 0, [], [])
        assert task.created_at is not None and task.run_after is not None


@pytest.mark.django_db(transaction=True)  # committed, so that a worker process sees the rows
def test_a_worker_runs_what_it_enqueued(manage):
    enqueue_many("greet", [{"name": f"n{i}"} for i in range(50)])

    assert manage("worker", "--burst", "--batch-size", "7").wait(timeout=60) == 0
    assert set(Task.objects.values_list("status", flat=True)) == {"DONE"}
    assert Task.objects.get(kwargs={"name": "n3"}).result == "Hello, n3!"


def test_it_obeys_the_callers_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_many("greet", [{"name": "Ada"}])
        raise RuntimeError("rolled back")

    assert Task.objects.count() == 0


def test_an_empty_list_adds_nothing():
    assert enqueue_many("noop", []) == 0
    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "kwargs_list", "using", "error"),
    [
        ("greet", [{"name": "Ada"}, {"name": object()}], {}, InvalidArguments),
        ("greet", [{"name": "Ada"}, ["Bob"]], {}, InvalidArguments),
        ("greet", [{"name": "x" * 70_000}], {}, InvalidArguments),
        ("launch_missiles", [{}], {}, UnknownTask),
        ("greet", [{}], {"priority": 101}, InvalidTask),
        ("greet", [{}], {"queue_name": "reports"}, InvalidTask),
    ],
)
def test_bad_arguments_write_nothing(name, kwargs_list, using, error):
    with pytest.raises(error):
        enqueue_many(name, kwargs_list, **using)

    assert Task.objects.count() == 0
