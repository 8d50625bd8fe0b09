"""`python manage.py worker`: take tasks from the queue table and run them."""

import logging
import sys

from django.core.management.base import BaseCommand, CommandError

from taskqueue.claim import claim_batch
from taskqueue.worker import Worker


class Command(BaseCommand):
    help = "Run queued tasks: claim a batch, run it, repeat. SIGTERM or Ctrl-C stops it cleanly."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=10, help="tasks per claim, at least 1 (default: 10)"
        )
        parser.add_argument(
            "--race-window",
            type=float,
            default=0.0,
            help="seconds to pause between SELECT and UPDATE, to make the race visible",
        )
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=1.0,
            help="seconds to sleep when idle (default: 1)",
        )
        parser.add_argument("--burst", action="store_true", help="exit when nothing is due")
        parser.add_argument(
            "--lease",
            type=float,
            default=30.0,
            help="seconds a claim lasts without a heartbeat (default: 30)",
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=25.0,
            help="seconds a running task may finish in (default: 25)",
        )
        parser.add_argument(
            "--rescue-interval",
            type=float,
            default=10.0,
            help="seconds between looks for expired leases (default: 10)",
        )

    def handle(self, *, batch_size, race_window, poll_interval, burst, verbosity, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["lease"] <= 0:
            raise CommandError("--lease must be positive")
        # verbosity 0: only retries and failures; 1: every event.
        logging.getLogger("taskqueue").setLevel(logging.WARNING if verbosity < 1 else logging.INFO)
        worker = Worker(
            claim=claim_batch,
            batch_size=batch_size,
            poll_interval=poll_interval,
            race_window=race_window,
            burst=burst,
            lease=options["lease"],
            grace=options["grace"],
            rescue_interval=options["rescue_interval"],
        )
        sys.exit(worker.run())
