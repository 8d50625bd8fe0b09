"""`python manage.py worker`: take tasks from the queue table and run them, in worker processes
under a supervisor (taskqueue/supervisor.py)."""

import argparse
import logging
import os
import sys

from django.core.management.base import BaseCommand, CommandError
from django.tasks import default_task_backend

from taskqueue import worker as defaults
from taskqueue.heartbeat import worker_id
from taskqueue.prefetch import MOST, TARGET
from taskqueue.report import Report
from taskqueue.rescuer import RESCUE_INTERVAL
from taskqueue.supervisor import Supervisor, die_with_parent, worker_command
from taskqueue.worker import Worker


def batch(text: str) -> int | None:
    """`--batch-size`: a whole number from 1, or `auto` (None)."""
    if text == "auto":
        return None
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise argparse.ArgumentTypeError(f"must be auto or a whole number from 1, not {text!r}")
    return size


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
            "--batch-size",
            type=batch,
            default=None,
            help="tasks per claim, at least 1 (default: auto, up to"
            f" {MOST}: as many as the worker gets through in {TARGET:g} s)",
        )
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=defaults.POLL_INTERVAL,
            help="longest idle wait between looks at the table, in seconds"
            f" (default: {defaults.POLL_INTERVAL:g})",
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
            default=defaults.LEASE,
            help="seconds a worker process counts as alive after its last heartbeat: how long"
            " the tasks of a machine that vanished wait to be rescued"
            f" (default: {defaults.LEASE:g})",
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=defaults.GRACE,
            help=f"seconds a running task may finish in (default: {defaults.GRACE:g})",
        )
        parser.add_argument(
            "--rescue-interval",
            type=float,
            default=RESCUE_INTERVAL,
            help="seconds between looks for workers whose lease ran out"
            f" (default: {RESCUE_INTERVAL:g})",
        )
        # Given by the supervisor to each child: its pid, the report page, the worker's token.
        parser.add_argument("--supervised", help=argparse.SUPPRESS)

    def handle(self, *, processes, queues, batch_size, verbosity, **options):
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
        if options["supervised"] is None:
            child = [f"--verbosity={verbosity}", f"--batch-size={batch_size or 'auto'}"]
            child += [f"--queue={queue}" for queue in queues]
            for option in ("poll_interval", "lease", "grace"):
                child.append(f"--{option.replace('_', '-')}={options[option]}")
            child += ["--no-listen"] * options["no_listen"] + ["--burst"] * options["burst"]
            supervisor = Supervisor(
                worker_command(child),
                processes,
                lease=options["lease"],
                grace=options["grace"],
                burst=options["burst"],
                rescue_interval=options["rescue_interval"],
            )
            sys.exit(supervisor.run())
        parent, report_fd, token = options["supervised"].split(":")
        die_with_parent(int(parent))
        worker = Worker(
            queues=queues,
            batch_size=batch_size,
            poll_interval=options["poll_interval"],
            burst=options["burst"],
            lease=options["lease"],
            grace=options["grace"],
            listen=False if options["no_listen"] else None,
            supervisor=(int(parent), Report(int(report_fd)), worker_id(os.getpid(), token)),
        )
        sys.exit(worker.run())
