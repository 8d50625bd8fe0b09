"""What the alternatives share: a child program per library, started behind the gate."""

import time
from collections.abc import Callable, Sequence

from workshop import REPO_ROOT
from workshop.bench import Row
from workshop.bench.db import connect, create_database, gate, wait_all
from workshop.processes import ManagedProcess, wait_until

GROUP = "alternatives"
WORKERS = 2  # one per core, as stage 5's reference row


def python(*args: str, env: dict | None = None, program=("-m",)) -> ManagedProcess:
    return ManagedProcess(REPO_ROOT, *args, env=env, program=program)


def run_to_end(process: ManagedProcess, timeout: float = 300) -> str:
    wait_all([process], timeout)
    return process.output


def drain_behind_gate(
    database: str,
    table: str,
    start: Sequence,
    count: int,
    drained,
    waiters: int = WORKERS,
) -> float:
    """Start the workers (`start()` returns them) while `table` is locked, open the gate when
    `waiters` sessions wait on it, and return tasks/s until `drained()` is true."""
    with gate(database, table) as open_gate:
        workers = start()
        open_gate(waiters, workers)
        opened = time.time()
    try:
        wait_until(drained, timeout=600, what=f"{count} tasks done")
        return count / (time.time() - opened)
    finally:
        for worker in workers:
            worker.stop()


def holds(database: str, query: str, *params) -> Callable[[], bool]:
    """A condition for drain_behind_gate: `query`, which returns one boolean, asked anew."""

    def check() -> bool:
        with connect(database) as conn:
            return bool(conn.execute(query, params).fetchone()[0])

    return check


def row(name: str, rate: float, note: str) -> Row:
    return Row(GROUP, name, rate, "tasks/s", note=note)


__all__ = ["create_database", "python", "run_to_end", "drain_behind_gate", "holds", "row"]
