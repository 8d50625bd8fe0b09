"""Other queues, each with no-op tasks and its own defaults, in a database of its own on the
same server (Celery: Redis). One module per library, each with `NAME` and `measure(count)`;
a library that is missing or fails becomes a `skipped` row, not the end of the run.

Each is read as a multiple of stage 5 (2 processes, batch 100). Where the library has a
database queue table, its workers start behind the same gate as stage 5's (db.gate)."""

import importlib
from functools import partial

MODULES = ["django_tasks_db", "procrastinate", "pgqueuer", "celery"]


def run(module_name: str, count: int):
    module = importlib.import_module(f"workshop.bench.alternatives.{module_name}")
    return [module.measure(count)]


def steps(sizes) -> list:
    return [
        (f"{name} (alternative)", partial(run, name, sizes.alternative_tasks)) for name in MODULES
    ]
