"""`python manage.py prune --days 7`: delete DONE and CANCELLED tasks older than that."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from taskqueue.retention import prune


class Command(BaseCommand):
    help = "Delete DONE and CANCELLED tasks that finished more than --days ago."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=float,
            default=settings.TASKQUEUE_KEEP_FINISHED_DAYS,
            help="keep this many days of finished tasks (default: TASKQUEUE_KEEP_FINISHED_DAYS)",
        )

    def handle(self, *, days, **_):
        if days < 0:
            raise CommandError("--days cannot be negative")
        deleted = prune(days * 86400)
        self.stdout.write(f"deleted {deleted} finished task(s) older than {days:g} day(s)")
