"""`python manage.py demo`: two workers on one queue, first with the naive claim, then locked."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db.models import Count

from taskqueue.models import Execution, Task
from workshop.demo import print_table, run_burst


class Command(BaseCommand):
    help = "Run a burst of tasks through two workers and count the tasks that ran twice."

    def add_arguments(self, parser):
        parser.add_argument("--tasks", type=int, default=300)
        parser.add_argument("--workers", type=int, default=2)
        # Longer than the 50 ms between a worker's looks at the table: both workers read the
        # first batch before either marks it, every time, and then keep colliding.
        parser.add_argument("--race-window", type=float, default=0.1)

    def handle(self, *, tasks, workers, race_window, **_):
        call_command("migrate", verbosity=0)
        self.stdout.write(
            f"{tasks} tasks, {workers} workers, batch 10, a {race_window * 1000:.0f} ms pause"
            " between SELECT and UPDATE (--race-window)"
        )
        rows = []
        for claim in ("naive", "locked"):
            Task.objects.all().delete()
            seconds = run_burst(
                stage_dir=settings.BASE_DIR,
                worker_args=[
                    "--claim",
                    claim,
                    "--race-window",
                    str(race_window),
                    "--poll-interval",
                    "0.05",
                    "--verbosity",
                    "0",
                ],
                workers=workers,
                enqueue=lambda: Task.objects.bulk_create(
                    Task(name="pretend_work", kwargs={"ms": 2}) for _ in range(tasks)
                ),
                finished=lambda: Task.objects.filter(
                    status__in=[Task.Status.DONE, Task.Status.FAILED]
                ).count(),
                total=tasks,
                label=f"claim={claim}",
            )
            executions = Execution.objects.count()
            ran_twice = Task.objects.annotate(runs=Count("executions")).filter(runs__gt=1).count()
            rows.append(
                [claim, tasks, f"{seconds:.2f}", f"{tasks / seconds:.0f}", executions, ran_twice]
            )
        print_table(
            "Stage 2: a table as a queue",
            ["claim", "tasks done", "seconds", "tasks/s", "executions", "tasks that ran twice"],
            rows,
        )
        self.stdout.write(
            "naive: both workers read the same rows before either marks them, so both run them.\n"
            "locked: SELECT ... FOR UPDATE stops that, but the second worker waits for the first."
        )
