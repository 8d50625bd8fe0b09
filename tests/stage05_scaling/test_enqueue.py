"""`manage.py enqueue`: good input adds tasks; bad input is refused and adds nothing."""

import pytest
from django.core.management import CommandError, call_command

from taskqueue.models import Task

pytestmark = pytest.mark.django_db


def test_enqueues_count_tasks_with_their_arguments():
    call_command("enqueue", "greet", kwargs='{"name": "Ada"}', count=3)

    assert (
        list(Task.objects.values_list("name", "kwargs", "status"))
        == [("taskqueue.tasks.greet", {"name": "Ada"}, Task.Status.QUEUED)] * 3
    )


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("greet", "{name: Ada}", "--kwargs is not valid JSON"),
        ("greet", "", "--kwargs is not valid JSON"),
        ("greet", '["Ada"]', "--kwargs must be a JSON object"),
        ("launch_missiles", "{}", "unknown task 'launch_missiles': not in the registry"),
        ("greet", '{"name": "' + "x" * 70_000 + '"}', "over the limit of 65536"),
        ("greet", '{"name": NaN}', "NaN and Infinity are not"),
        ("greet", '{"nme": "Ada"}', "arguments do not fit greet"),
        ("greet", '{"name": ' + "[" * 100 + "]" * 100 + "}", "nested more than 64 levels"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_writes_nothing(name, kwargs, message):
    with pytest.raises(CommandError, match=message):
        call_command("enqueue", name, kwargs=kwargs, count=5)

    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"priority": 101}, "priority must be a whole number between -100 and 100"),
        ({"queue_name": "reports"}, "Queue 'reports' is not valid for backend"),
        ({"args_json": '{"a": 1}'}, "--args must be a JSON list"),
    ],
)
def test_options_out_of_range_are_refused_with_django_s_message(options, message):
    with pytest.raises(CommandError, match=message):
        call_command("enqueue", "greet", **options)

    assert Task.objects.count() == 0


def test_the_same_key_twice_enqueues_once():
    call_command("enqueue", "greet", kwargs='{"name": "Ada"}', key="greet:ada")
    call_command("enqueue", "greet", kwargs='{"name": "Ada"}', key="greet:ada")

    assert Task.objects.filter(idempotency_key="greet:ada").count() == 1


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_a_key_must_be_1_to_200_characters(key):
    from taskqueue.enqueue import InvalidArguments, enqueue

    with pytest.raises(InvalidArguments, match="key must be a string of 1 to 200 characters"):
        enqueue("greet", key=key)
    assert Task.objects.count() == 0


def test_a_key_is_per_task_for_code_that_enqueues():
    from taskqueue.enqueue import enqueue

    assert enqueue("greet", key="k").pk == enqueue("greet", key="k").pk
    assert enqueue("noop", key="k").pk != enqueue("greet", key="k").pk
