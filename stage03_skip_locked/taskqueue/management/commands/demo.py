"""`python manage.py demo`: the same burst of tasks through 1, 2 and 4 workers, no task twice."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from taskqueue.models import Execution, Task
from workshop.demo import print_table, run_burst


class Command(BaseCommand):
    help = "Run a burst of tasks through 1, 2 and 4 workers; count the tasks that ran twice."

    def add_arguments(self, parser):
        parser.add_argument("--tasks", type=int, default=300)
        parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
        parser.add_argument("--race-window", type=float, default=0.02)

    def handle(self, *, tasks, workers, race_window, **_):
        call_command("migrate", verbosity=0)
        self.stdout.write(
            f"{tasks} tasks of 5 ms each, batch 10, a {race_window * 1000:.0f} ms pause"
            " between SELECT and UPDATE (--race-window)"
        )
        rows = []
        for count in workers:
            Task.objects.all().delete()
            seconds = run_burst(
                stage_dir=settings.BASE_DIR,
                worker_args=[
                    "--race-window",
                    str(race_window),
                    "--poll-interval",
                    "0.05",
                    "--verbosity",
                    "0",
                ],
                workers=count,
                enqueue=lambda: Task.objects.bulk_create(
                    Task(name="pretend_work", kwargs={"ms": 5}) for _ in range(tasks)
                ),
                finished=lambda: Task.objects.filter(
                    status__in=[Task.Status.DONE, Task.Status.FAILED]
                ).count(),
                total=tasks,
                label=f"{count} worker(s)",
            )
            executions = Execution.objects.count()
            ran_twice = executions - Execution.objects.values("task").distinct().count()
            rows.append([count, tasks, f"{seconds:.2f}", f"{tasks / seconds:.0f}", ran_twice])
        print_table(
            "Stage 3: SELECT ... FOR UPDATE SKIP LOCKED",
            ["workers", "tasks done", "seconds", "tasks/s", "tasks that ran twice"],
            rows,
        )
        self.stdout.write(
            "Each worker skips the rows another worker has locked: more workers, more tasks/s,\n"
            "and still no task twice (the database would refuse a second Execution row)."
        )
