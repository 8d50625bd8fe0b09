"""`python manage.py enqueue NAME --kwargs '{"name": "Ada"}' --count 3 --key K`: add tasks."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.tasks.exceptions import InvalidTask

from taskqueue import registry
from taskqueue.db import atomic
from taskqueue.enqueue import InvalidArguments, enqueue
from taskqueue.models import Task


def json_option(option: str, text: str, kind: type, kind_name: str, example: str):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"{option} is not valid JSON ({error}): {text!r}") from None
    if not isinstance(value, kind):
        raise CommandError(f"{option} must be a JSON {kind_name} like {example}: {text!r}")
    return value


class Command(BaseCommand):
    help = "Add tasks to the queue."

    def add_arguments(self, parser):
        parser.add_argument("name", help="a registered task, e.g. greet")
        parser.add_argument("--kwargs", default="{}", help="keyword arguments as a JSON object")
        parser.add_argument(
            "--args", dest="args_json", default="[]", help="positional arguments as a JSON list"
        )
        parser.add_argument("--count", type=int, default=1, help="how many copies to enqueue")
        parser.add_argument("--key", help="idempotency key: enqueue once, however often asked")
        parser.add_argument("--priority", type=int, help="-100 to 100, higher runs first")
        parser.add_argument("--queue", dest="queue_name", help="a queue the backend serves")

    def handle(self, *, name, kwargs, args_json, count, key, priority, queue_name, **_):
        # Check everything before writing anything: bad input adds no row at all.
        try:
            definition = registry.lookup(name)
        except registry.UnknownTask as error:
            raise CommandError(str(error)) from None
        kwargs = json_option("--kwargs", kwargs, dict, "object", '{"name": "Ada"}')
        args = json_option("--args", args_json, list, "list", '["Ada"]')
        if count < 1:
            raise CommandError("--count must be at least 1")
        if key is not None and count != 1:
            raise CommandError("--key enqueues one task: leave out --count")
        using = {"priority": priority, "queue_name": queue_name}
        using = {option: value for option, value in using.items() if value is not None}

        # A key is its owner's and its task's; tasks enqueued here have no owner.
        mine = Task.objects.filter(name=definition.module_path, enqueued_by=None)
        if key is not None and (existing := mine.filter(idempotency_key=key).first()):
            self.stdout.write(f"already enqueued with key {key!r}: task {existing.pk}")
            return
        try:
            with atomic():
                tasks = [enqueue(name, kwargs, args=args, key=key, **using) for _ in range(count)]
        except (InvalidArguments, InvalidTask) as error:
            raise CommandError(str(error)) from None
        ids = f"id {tasks[0].pk}" if count == 1 else f"ids {tasks[0].pk}..{tasks[-1].pk}"
        self.stdout.write(f"enqueued {count} {name} task(s), {ids}")
