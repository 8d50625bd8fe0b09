"""`python manage.py loadtest`: the locust scenario (locustfile.py) run headless against a real
web server (gunicorn) and 1, 2 and 4 worker processes, one after the other. It empties the
stage 5 queue before each, and writes one row per worker count to .measurements/load.csv
(untracked), which notebooks/05_scaling.ipynb plots; `--save` writes the committed
measurements/load.csv that the stage README quotes (workshop/measurements.py)."""

import csv
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from taskqueue.models import ApiToken, Task
from workshop.demo import console, print_table, running
from workshop.measurements import folder
from workshop.processes import ManagedProcess, web_server

COLUMNS = ["workers", "users", "seconds", "task_ms", "tasks_per_second"]
COLUMNS += ["p50_ms", "p95_ms", "p99_ms", "failures"]
SHOWN = ["workers", "tasks_per_second", "p50_ms", "p95_ms", "p99_ms", "failures"]


def locust_row(stats_csv: Path) -> dict:
    """The "enqueue to done" line of locust's stats CSV."""
    with stats_csv.open() as file:
        for row in csv.DictReader(file):
            if row["Name"] == "enqueue to done":
                return row
    raise RuntimeError(f"no 'enqueue to done' line in {stats_csv}: did any task finish?")


class Command(BaseCommand):
    help = "Load test over HTTP: throughput and enqueue-to-done latency for 1, 2, 4 workers."

    def add_arguments(self, parser):
        parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
        parser.add_argument("--seconds", type=int, default=20, help="per worker count")
        parser.add_argument("--users", type=int, default=40, help="simulated users")
        parser.add_argument("--task-ms", type=int, default=50, help="how long each task works")
        parser.add_argument("--output", type=Path, help="default: .measurements/load.csv")
        parser.add_argument(
            "--save", action="store_true", help="write the committed measurements/load.csv"
        )

    def handle(self, *, workers, seconds, users, task_ms, output, save, **_):
        output = output or folder(save) / "load.csv"
        call_command("migrate", verbosity=0)
        token = ApiToken.issue_to_service("loadtest")
        output.parent.mkdir(parents=True, exist_ok=True)
        raw = output.parent / "locust"  # locust's own CSV files
        raw.mkdir(exist_ok=True)
        rows = []
        with web_server(settings.BASE_DIR) as url:
            for count in workers:
                console.print(
                    f"{count} worker process(es): {users} users for {seconds} s"
                    " (the queue is emptied first)"
                )
                Task.objects.all().delete()
                rows.append(self.run_one(count, users, seconds, task_ms, url, token, raw))
        with output.open("w", newline="") as file:
            writer = csv.DictWriter(file, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        print_table(
            f"{users} users over HTTP, tasks of {task_ms} ms, {seconds} s per row",
            ["workers", "tasks/s", "p50 ms", "p95 ms", "p99 ms", "failures"],
            [
                [
                    row["workers"],
                    row["tasks_per_second"],
                    row["p50_ms"],
                    row["p95_ms"],
                    row["p99_ms"],
                    row["failures"],
                ]  # fmt: skip
                for row in rows
            ],
        )
        console.print(f"wrote {output}")

    def run_one(self, count, users, seconds, task_ms, url, token, raw) -> dict:
        # Batches of one: each task takes time, so a worker should hold only the one it runs.
        worker_args = ["--processes", str(count)]
        ready = count + 1
        with running(settings.BASE_DIR, worker_args, ready_lines=ready):
            locust = ManagedProcess(
                settings.BASE_DIR,
                "-f", "locustfile.py", "--headless", "--only-summary",
                f"--users={users}", f"--spawn-rate={users}", f"--run-time={seconds}s",
                f"--host={url}", f"--csv={raw / f'workers_{count}'}",
                env={"LOCUST_TOKEN": token, "LOCUST_TASK_MS": str(task_ms)},
                program=("-m", "locust"),
            )  # fmt: skip
            locust.wait(timeout=seconds + 60)
        stats = locust_row(raw / f"workers_{count}_stats.csv")
        connection.close()
        return {
            "workers": count,
            "users": users,
            "seconds": seconds,
            "task_ms": task_ms,
            "tasks_per_second": round(float(stats["Requests/s"]), 1),
            "p50_ms": stats["50%"],
            "p95_ms": stats["95%"],
            "p99_ms": stats["99%"],
            "failures": stats["Failure Count"],
        }
