"""`python manage.py worker`: take tasks from the queue table and run them."""

import logging
import sys

from django.core.management.base import BaseCommand, CommandError
from django.tasks import default_task_backend

from taskqueue.supervisor import Supervisor, worker_command
from taskqueue.worker import Worker


class Command(BaseCommand):
    help = "Run queued tasks: claim a batch, run it, repeat. SIGTERM or Ctrl-C stops it cleanly."

    def add_arguments(self, parser):
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="worker processes to run and keep running (default: 1)",
        )
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            help="a queue to take tasks from; repeat for more (default: all of the backend's)",
        )
        parser.add_argument(
            "--batch-size", type=int, default=100, help="tasks per claim, at least 1 (default: 100)"
        )
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=1.0,
            help="longest idle wait between looks at the table, in seconds (default: 1)",
        )
        parser.add_argument(
            "--no-listen",
            action="store_true",
            help="poll with a backoff instead of waiting for NOTIFY (for a transaction pooler)",
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

    def handle(self, *, processes, queues, batch_size, verbosity, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["lease"] <= 0:
            raise CommandError("--lease must be positive")
        if processes < 1:
            raise CommandError("--processes must be at least 1")
        served = sorted(default_task_backend.queues)
        queues = queues or served
        if unknown := sorted(set(queues) - set(served)):
            raise CommandError(f"no such queue: {', '.join(unknown)} (served: {', '.join(served)})")
        # verbosity 0: only retries and failures; 1: batches and workers; 2: every task.
        level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
        logging.getLogger("taskqueue").setLevel(level)
        if processes > 1:
            child = [f"--verbosity={verbosity}", f"--batch-size={batch_size}"]
            child += [f"--queue={queue}" for queue in queues]
            for option in ("poll_interval", "lease", "grace", "rescue_interval"):
                child.append(f"--{option.replace('_', '-')}={options[option]}")
            child += ["--no-listen"] * options["no_listen"] + ["--burst"] * options["burst"]
            sys.exit(Supervisor(worker_command(child), processes, options["burst"]).run())
        worker = Worker(
            queues=queues,
            batch_size=batch_size,
            poll_interval=options["poll_interval"],
            burst=options["burst"],
            lease=options["lease"],
            grace=options["grace"],
            rescue_interval=options["rescue_interval"],
            listen=False if options["no_listen"] else None,
        )
        sys.exit(worker.run())
