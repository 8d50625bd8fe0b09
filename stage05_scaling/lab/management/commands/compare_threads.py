"""`python manage.py compare_threads`: the same burst run by worker processes and by worker
threads, for three kinds of task: no-op (all the time is the queue's own work), 5 ms of Python
computation (holds the GIL), and 5 ms of waiting (a sleep, as an API call would). The numbers
behind section 3 of the README."""

import logging
import os
import threading
import time
from datetime import date

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from taskqueue.enqueue import enqueue_many
from taskqueue.models import Task
from taskqueue.worker import Worker
from workshop.demo import print_table, running, watch
from workshop.measurements import write_tables

KINDS = {
    # name: (task, kwargs, batch size): tasks that wait take small batches, so that the
    # workers share them out instead of one holding a hundred.
    "no-op (the queue's own work)": ("taskqueue.tasks.noop", {}, 100),
    "5 ms of computing": ("taskqueue.tasks.burn_cpu", {"ms": 5}, 1),
    "5 ms of waiting": ("taskqueue.tasks.pretend_work", {"ms": 5}, 1),
}


def enqueue_burst(name: str, kwargs: dict, count: int) -> None:
    Task.objects.all().delete()
    enqueue_many(name, [kwargs] * count)


def finished() -> int:
    return Task.objects.filter(status=Task.Status.DONE).count()


def with_processes(kind: tuple, count: int, processes: int) -> float:
    name, kwargs, batch = kind
    args = ["--processes", str(processes), "--batch-size", str(batch), "-v", "1"]
    ready = processes + 1
    with running(settings.BASE_DIR, args, ready_lines=ready) as workers:
        enqueue_burst(name, kwargs, count)
        started = time.perf_counter()  # from the commit: before it, no worker saw a task
        watch(f"{processes} process(es)", count, finished, workers)
        return count / (time.perf_counter() - started)


def with_threads(kind: tuple, count: int, threads: int) -> float:
    name, kwargs, batch = kind
    enqueue_burst(name, kwargs, count)
    workers = [Worker(burst=True, batch_size=batch) for _ in range(threads)]

    def work(worker: Worker) -> None:
        try:
            worker.run(signals=False)
        finally:
            connection.close()  # each thread has a connection of its own

    started = time.perf_counter()
    pool = [threading.Thread(target=work, args=(worker,)) for worker in workers]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return count / (time.perf_counter() - started)


class Command(BaseCommand):
    help = "Tasks per second with worker processes and with worker threads, for two kinds of task."

    def add_arguments(self, parser):
        parser.add_argument("--noop-tasks", type=int, default=20_000)
        parser.add_argument("--slow-tasks", type=int, default=1_000, help="of each 5 ms kind")
        parser.add_argument(
            "--save", action="store_true", help="write the committed measurements/threads.txt"
        )

    def handle(self, *, noop_tasks, slow_tasks, save, **_):
        call_command("migrate", verbosity=0)
        # The workers in threads log here, in this process: only what goes wrong.
        logging.getLogger("taskqueue").setLevel(logging.WARNING)
        counts = dict(zip(KINDS, (noop_tasks, slow_tasks, slow_tasks), strict=True))
        rows = []
        for label, kind in KINDS.items():
            count = counts[label]
            rows.append(
                [
                    label,
                    f"{with_processes(kind, count, 1):,.0f}",
                    f"{with_processes(kind, count, 2):,.0f}",
                    f"{with_threads(kind, count, 2):,.0f}",
                    f"{with_threads(kind, count, 4):,.0f}",
                ]
            )
        columns = ["task", "1 process", "2 processes", "2 threads", "4 threads"]
        print_table(
            "Tasks per second: processes against threads (the queue is emptied first)",
            columns,
            rows,
        )
        out = write_tables(
            "threads.txt",
            save,
            f"`manage.py compare_threads`, {date.today()}; {os.cpu_count()} cores",
            [("Tasks per second", columns, rows)],
        )
        self.stdout.write(f"written: {out}")
