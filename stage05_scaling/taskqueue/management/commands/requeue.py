"""`python manage.py requeue --all` or `requeue 12 15`: give FAILED and DEAD tasks another go."""

from django.core.management.base import BaseCommand, CommandError

from taskqueue.models import Task
from taskqueue.retries import requeue


class Command(BaseCommand):
    help = "Re-queue FAILED or DEAD tasks with a fresh set of attempts."

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, help="task ids")
        parser.add_argument("--all", action="store_true", help="every FAILED or DEAD task")

    def handle(self, *, ids, all, **_):
        if bool(ids) == all:
            raise CommandError("give task ids, or --all (not both)")
        tasks = Task.objects.all() if all else Task.objects.filter(pk__in=ids)
        count = requeue(tasks)
        self.stdout.write(f"re-queued {count} task(s)")
