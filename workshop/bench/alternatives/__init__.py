"""Other queues, each with no-op tasks, in a database of its own on the same server (Celery:
Redis): with its own defaults, and, where it has faster documented settings, once more at
settings matched to stage 5's reference row (`measure(count, matched=True)`). One module per
library; a library that is missing or fails becomes a `skipped` row, not the end of the run.

Each is read as a multiple of stage 5 (2 processes, batch 100). Where the library has a
database queue table, its workers start behind the same gate as stage 5's (db.gate)."""

import importlib
from functools import partial

MODULES = ["django_tasks_db", "procrastinate", "pgqueuer", "celery"]
MATCHED = ["procrastinate", "pgqueuer"]  # the others document nothing faster than defaults


def run(module_name: str, count: int, matched: bool = False):
    module = importlib.import_module(f"workshop.bench.alternatives.{module_name}")
    return [module.measure(count, matched=True) if matched else module.measure(count)]


def steps(sizes) -> list:
    count = sizes.alternative_tasks
    return [(f"{name} (alternative)", partial(run, name, count)) for name in MODULES] + [
        (f"{name} (matched)", partial(run, name, count * 4, matched=True)) for name in MATCHED
    ]
