"""`python manage.py worker`: take tasks from the queue table and run them."""

import contextlib
import os
import signal
import sys

from django.core.management.base import BaseCommand, CommandError

from taskqueue.claim import claim_batch
from taskqueue.worker import Worker


class Command(BaseCommand):
    help = "Run queued tasks: claim a batch, run it, repeat."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=10, help="tasks per claim (>= 1)")
        parser.add_argument(
            "--race-window",
            type=float,
            default=0.0,
            help="seconds to pause between SELECT and UPDATE, to make the race visible",
        )
        parser.add_argument(
            "--poll-interval", type=float, default=1.0, help="seconds to sleep when idle"
        )
        parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")

    def handle(self, *, batch_size, race_window, poll_interval, burst, verbosity, **_):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        worker = Worker(
            claim=claim_batch,
            batch_size=batch_size,
            poll_interval=poll_interval,
            race_window=race_window,
            burst=burst,
            log=self.stdout.write if verbosity >= 1 else lambda line: None,
        )

        def stop_now(signum, frame):
            # Ctrl-C stops this worker on the spot, wherever it is: half-way through a task, or
            # through a database call (where a KeyboardInterrupt would leave the connection
            # half-way and end in a traceback). The task it was running stays IN_PROGRESS for
            # good: stage 4 fixes that.
            with contextlib.suppress(RuntimeError):  # Ctrl-C came in the middle of a print
                sys.stdout.flush()  # the lines already printed
            bye = f"Stopped by Ctrl-C after {worker.processed} task(s). Bye!\n"
            os.write(sys.stdout.fileno(), bye.encode())
            os._exit(0)

        signal.signal(signal.SIGINT, stop_now)
        self.stdout.write(f"worker {worker.id} ready (claim=skip_locked, batch={batch_size})")
        worker.run()
        self.stdout.write(f"Queue empty after {worker.processed} task(s). Bye!")
