"""`python manage.py demo`: a burst with failing tasks, and a worker killed mid-run. Nothing is
lost: failures are retried or recorded, the dead worker's tasks are rescued."""

import signal

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db.models import Count, F, Q

from taskqueue.enqueue import enqueue
from taskqueue.models import Execution, Task
from workshop.demo import print_table, run_burst
from workshop.processes import ManagedProcess

WORKER_ARGS = ["--poll-interval", "0.05", "--lease", "2", "--rescue-interval", "0.5"]


class Command(BaseCommand):
    help = "Run tasks that fail and a worker that gets killed; show that nothing is lost."

    def add_arguments(self, parser):
        parser.add_argument("--tasks", type=int, default=300)
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *, tasks, workers, **_):
        call_command("migrate", verbosity=0)
        Task.objects.all().delete()
        failing, rejected = 10, 5
        total = tasks + failing + rejected
        self.stdout.write(
            f"The demo empties this stage's queue, then enqueues {total} tasks: {tasks} of 10 ms,"
            f" {failing} that always fail (3 attempts each) and {rejected} that fail for good."
            f"\n{workers} workers with a 2 s lease; a third of the way in, one is killed with"
            " SIGKILL and a new one starts."
        )
        killed = []

        def kill_one(processes: list[ManagedProcess], done: int) -> None:
            if not killed and done >= total // 3:
                victim = processes.pop(0)
                victim.send_signal(signal.SIGKILL)
                killed.append(victim.pid)
                processes.append(ManagedProcess(settings.BASE_DIR, "worker", *WORKER_ARGS))

        def enqueue_all():
            for _ in range(tasks):
                enqueue("pretend_work", {"ms": 10})
            for number in range(failing):
                enqueue("fail", {"message": f"payment API down ({number})"})
            for _ in range(rejected):
                enqueue("reject", {"message": "invalid card number"})

        seconds = run_burst(
            stage_dir=settings.BASE_DIR,
            worker_args=WORKER_ARGS,
            workers=workers,
            enqueue=enqueue_all,
            finished=lambda: Task.objects.filter(
                status__in=[Task.Status.DONE, Task.Status.FAILED, Task.Status.DEAD]
            ).count(),
            total=total,
            label=f"{workers} workers",
            during=kill_one,
        )
        counts = dict(Task.objects.values_list("status").annotate(n=Count("id")))
        lost = Execution.objects.filter(outcome=Execution.Outcome.LOST).count()
        retries = Execution.objects.filter(outcome=Execution.Outcome.RETRY).count()
        # A task that needed more attempts than it had runs that ended: the killed worker had
        # claimed it, and the rescuer gave it back.
        rescued = (
            Task.objects.annotate(
                ended=Count("executions", filter=~Q(executions__outcome=Execution.Outcome.LOST))
            )
            .filter(attempts__gt=F("ended"))
            .count()
        )
        unfinished = counts.get("QUEUED", 0) + counts.get("IN_PROGRESS", 0)
        print_table(
            f"Stage 4: {total} tasks, {seconds:.1f} s, one worker killed",
            ["", "tasks"],
            [
                ["DONE", counts.get("DONE", 0)],
                ["FAILED (not retryable)", counts.get("FAILED", 0)],
                ["DEAD (3 attempts used)", counts.get("DEAD", 0)],
                ["still QUEUED or IN_PROGRESS", unfinished],
                ["held by the killed worker, rescued", rescued],
                ["  of which had started, so ran again", lost],
                ["retries after an error", retries],
            ],
        )
        self.stdout.write(
            "Nothing lost: every task ended DONE, FAILED or DEAD. The tasks the killed worker\n"
            "held were rescued when their lease ran out; any it had started ran again."
        )
