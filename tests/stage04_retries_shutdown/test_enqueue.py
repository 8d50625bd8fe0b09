"""`manage.py enqueue`: good input adds tasks; bad input is refused and adds nothing."""

import pytest
from django.core.management import CommandError, call_command

from taskqueue.models import Task

pytestmark = pytest.mark.django_db


def test_enqueues_count_tasks_with_their_arguments():
    call_command("enqueue", "greet", kwargs='{"name": "Ada"}', count=3)

    assert (
        list(Task.objects.values_list("name", "kwargs", "status"))
        == [("greet", {"name": "Ada"}, Task.Status.QUEUED)] * 3
    )


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("greet", "{name: Ada}", "--kwargs is not valid JSON"),
        ("greet", "", "--kwargs is not valid JSON"),
        ("greet", '["Ada"]', "--kwargs must be a JSON object"),
        ("launch_missiles", "{}", "unknown task 'launch_missiles': not in the registry"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_writes_nothing(name, kwargs, message):
    with pytest.raises(CommandError, match=message):
        call_command("enqueue", name, kwargs=kwargs, count=5)

    assert Task.objects.count() == 0


def test_the_same_key_twice_enqueues_once():
    call_command("enqueue", "greet", kwargs='{"name": "Ada"}', key="greet:ada")
    call_command("enqueue", "greet", kwargs='{"name": "Ada"}', key="greet:ada")

    assert Task.objects.filter(idempotency_key="greet:ada").count() == 1
