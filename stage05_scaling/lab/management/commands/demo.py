"""`python manage.py demo`: N worker processes under one supervisor take a burst of tasks, then
single tasks enqueued over HTTP (gunicorn, POST /tasks/) show how fast a new task starts on an
idle queue: woken by NOTIFY, or found by polling."""

import json
import os
import random
import time
import urllib.request
from datetime import date

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from taskqueue.enqueue import enqueue_many
from taskqueue.models import ApiToken, Task
from workshop.demo import console, print_table, running, watch
from workshop.measurements import write_tables
from workshop.processes import web_server


def finished() -> int:
    return Task.objects.filter(status__in=Task.FINISHED).count()


def latency_ms(ids: list[int]) -> dict[str, float]:
    """Enqueue-to-start and enqueue-to-done percentiles, in the database's own clock."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY
                       extract(epoch FROM started_at - created_at) * 1000),
                   percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY
                       extract(epoch FROM finished_at - created_at) * 1000)
            FROM taskqueue_task WHERE id = ANY(%s)
            """,
            [ids],
        )
        start, done = cursor.fetchone()
    return {"start": start, "done": done}


def post_task(url: str, token: str, body: dict) -> int:
    """POST /tasks/ as any client would; the new task's id."""
    request = urllib.request.Request(
        f"{url}/tasks/",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.load(response)["id"])


class Command(BaseCommand):
    help = "A burst of tasks over N worker processes, then enqueue-to-start latency."

    def add_arguments(self, parser):
        parser.add_argument("--tasks", type=int, default=20_000, help="tasks in the burst")
        parser.add_argument("--processes", type=int, default=2, help="worker processes")
        parser.add_argument(
            "--samples", type=int, default=50, help="single tasks timed on an idle queue"
        )
        parser.add_argument(
            "--save", action="store_true", help="write the committed measurements/demo.txt"
        )

    def handle(self, *, tasks, processes, samples, save, **_):
        call_command("migrate", verbosity=0)
        Task.objects.all().delete()
        self.stdout.write(
            f"The demo empties this stage's queue, starts `worker --processes {processes}` and"
            f" enqueues {tasks:,} no-op tasks in one COPY.\nThen it starts the web server and"
            f" times {samples} single tasks enqueued over HTTP on the idle queue, first with"
            " LISTEN/NOTIFY, then with polling."
        )
        token = ApiToken.issue_to_service("demo")
        worker_args = ["--processes", str(processes)]
        # A supervisor says "ready" once for itself, and each of its children once more.
        ready = processes + 1
        with running(settings.BASE_DIR, worker_args, ready_lines=ready) as workers:
            started = time.perf_counter()
            enqueue_many("noop", [{}] * tasks)  # one COPY: see taskqueue/enqueue.py
            enqueued = time.perf_counter() - started
            watch(f"{processes} processes", tasks, finished, workers)
            seconds = time.perf_counter() - started
            processing = seconds - enqueued  # nothing could start before the INSERT committed
            with web_server(settings.BASE_DIR) as url:
                console.print(f"web: gunicorn at {url}; single tasks go in through POST /tasks/")
                notify = self.sample(samples, url, token)
        with (
            running(settings.BASE_DIR, [*worker_args, "--no-listen"], ready_lines=ready),
            web_server(settings.BASE_DIR) as url,
        ):
            poll = self.sample(samples, url, token)

        burst = (
            f"Stage 5: {tasks:,} no-op tasks, {processes} worker processes",
            ["", "value"],
            [
                ["enqueued (enqueue_many, one COPY), tasks/s", f"{tasks / enqueued:,.0f}"],
                ["processed, tasks/s", f"{tasks / processing:,.0f}"],
                ["enqueue to last task done, s", f"{seconds:.2f}"],
            ],
        )
        print_table(*burst)
        rows = []
        for mode, values in (("LISTEN/NOTIFY", notify), ("polling (backoff to 1 s)", poll)):
            for what in ("start", "done"):
                p50, p95, p99 = values[what]
                rows.append(
                    [f"{mode}: enqueue to {what}", f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}"]
                )
        latency = (
            f"Latency on an idle queue, {samples} tasks one at a time (ms)",
            ["", "p50", "p95", "p99"],
            rows,
        )
        print_table(*latency)
        machine = f"{os.cpu_count()} cores, PostgreSQL {connection.pg_version // 10000}"
        out = write_tables(
            "demo.txt", save, f"`make demo`, {date.today()}; {machine}", [burst, latency]
        )
        console.print(f"written: {out}")
        console.print(
            "A woken worker starts a task within a few milliseconds; a polling one only when it"
            " next looks. 'done' adds the write of the result."
        )

    def sample(self, count: int, url: str, token: str) -> dict[str, list[float]]:
        """Enqueue `count` tasks over HTTP one at a time, each once the last is done and a random
        pause has passed, as requests arrive: the queue is idle each time."""
        ids = []
        for _ in range(count):
            task_id = post_task(url, token, {"task": "noop"})
            ids.append(task_id)
            deadline = time.monotonic() + 30
            while not Task.objects.filter(pk=task_id, status=Task.Status.DONE).exists():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"task {task_id} not done after 30 s")
                time.sleep(0.002)
            time.sleep(random.uniform(0, 0.3))
        return latency_ms(ids)
