"""`python manage.py enqueue NAME --kwargs '{"name": "Ada"}' --count 3 --key K`: add tasks."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from taskqueue import registry
from taskqueue.enqueue import enqueue
from taskqueue.models import Task


class Command(BaseCommand):
    help = "Add tasks to the queue."

    def add_arguments(self, parser):
        parser.add_argument("name", help="a registered task, e.g. greet")
        parser.add_argument("--kwargs", default="{}", help="keyword arguments as a JSON object")
        parser.add_argument("--count", type=int, default=1, help="how many copies to enqueue")
        parser.add_argument("--key", help="idempotency key: enqueue once, however often asked")

    def handle(self, *, name, kwargs, count, key, **_):
        # Check everything before writing anything: bad input adds no row at all.
        try:
            registry.lookup(name)
        except registry.UnknownTask as error:
            raise CommandError(str(error)) from None
        try:
            arguments = json.loads(kwargs)
        except json.JSONDecodeError as error:
            raise CommandError(f"--kwargs is not valid JSON ({error}): {kwargs!r}") from None
        if not isinstance(arguments, dict):
            raise CommandError(f'--kwargs must be a JSON object like {{"name": "Ada"}}: {kwargs!r}')
        if count < 1:
            raise CommandError("--count must be at least 1")
        if key is not None and count != 1:
            raise CommandError("--key enqueues one task: leave out --count")

        if key is not None and (existing := Task.objects.filter(idempotency_key=key).first()):
            self.stdout.write(f"already enqueued with key {key!r}: task {existing.pk}")
            return
        with transaction.atomic():
            tasks = [enqueue(name, arguments, key=key) for _ in range(count)]
        self.stdout.write(f"enqueued {count} {name} task(s), ids {tasks[0].pk}..{tasks[-1].pk}")
