"""Running the child program (child.py) and stage 5's worker, and reading what they report."""

import json

from workshop.bench.db import STAGE5_DB, STAGE5_DIR, bench_env
from workshop.processes import ManagedProcess

CHILD = ("-m", "workshop.bench.child")


def child(what: str, number: int, database: str = STAGE5_DB) -> ManagedProcess:
    return ManagedProcess(STAGE5_DIR, what, str(number), env=bench_env(database), program=CHILD)


def result_of(process: ManagedProcess, timeout: float = 600) -> dict:
    if process.wait(timeout=timeout) != 0:
        raise RuntimeError(f"`{process.name}` failed:\n{process.output}")
    return json.loads(process.wait_for(r"^result (.*)").group(1))


def worker(processes: int, batch: int | None, database: str = STAGE5_DB) -> ManagedProcess:
    """`worker --processes N --burst`; batch None: the worker's own (auto)."""
    size = "auto" if batch is None else str(batch)
    args = ["worker", "--processes", str(processes), "--burst", "--batch-size", size, "-v0"]
    return ManagedProcess(STAGE5_DIR, *args, env=bench_env(database))
