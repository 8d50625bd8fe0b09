"""`python manage.py queues`: each queue's numbers, and pausing one (`queues pause emails`,
`queues resume emails`). Workers stop claiming from a paused queue within a second; its running
tasks finish, and new ones wait in it until it is resumed (pause.py)."""

from django.core.management.base import BaseCommand, CommandError
from django.tasks import default_task_backend

from taskqueue import dashboard
from taskqueue.pause import pause, resume


class Command(BaseCommand):
    help = "List the queues, or pause or resume one: `queues`, `queues pause|resume NAME`."

    def add_arguments(self, parser):
        parser.add_argument(
            "action", nargs="?", choices=["list", "pause", "resume"], default="list"
        )
        parser.add_argument("name", nargs="?", help="for pause and resume: the queue's name")

    def handle(self, *, action, name, **_):
        if action != "list":
            if not name:
                raise CommandError(f"{action} needs a queue's name (see `queues`)")
            known = set(default_task_backend.queues)
            if name not in known:
                raise CommandError(f"no queue {name!r}: TASKS names {', '.join(sorted(known))}")
            changed = pause(name, by="manage.py queues") if action == "pause" else resume(name)
            state = "paused" if action == "pause" else "resumed"
            self.stdout.write(f"{name}: {state}" if changed else f"{name}: already {state}")
            return
        configured = sorted(default_task_backend.queues)
        self.stdout.write(
            f"{'queue':<16} {'queued':>8} {'due':>8} {'running':>8} {'failed 1h':>9}"
            f" {'dead 1h':>8} {'oldest due':>10}  state"
        )
        for row in dashboard.queues(configured):
            oldest = "-" if row["oldest_due"] is None else f"{row['oldest_due']:.1f} s"
            state = "paused" if row["paused_at"] else "running"
            self.stdout.write(
                f"{row['name']:<16} {row['queued']:>8,} {row['due']:>8,} {row['running']:>8,}"
                f" {row['failed']:>9,} {row['dead']:>8,} {oldest:>10}  {state}"
            )
