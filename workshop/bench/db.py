"""The benchmark's databases and the gate that starts every worker at the same instant.

Each stage measured gets a database of its own (`bench_stage05`, ...), on the same server the
stages use, so that a benchmark never empties a stage's own queue.
"""

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import psycopg

from workshop import REPO_ROOT
from workshop.database import drop_database, server_url
from workshop.processes import ManagedProcess, wait_until

STAGE5 = "stage05_scaling"
STAGE5_DIR = REPO_ROOT / STAGE5
STAGE5_DB = "bench_stage05"


def bench_env(database: str) -> dict:
    # No schedules: a tick's task would be one more row than the benchmark counts.
    return {"WORKSHOP_DB_NAME": database, "TASKQUEUE_SCHEDULES": "{}"}


def connect(database: str, autocommit: bool = True) -> psycopg.Connection:
    return psycopg.connect(server_url(database), autocommit=autocommit)


def create_database(name: str) -> None:
    """Create `name` on the server if it does not exist (for the alternatives' own schemas)."""
    with connect("postgres") as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def migrate(stage: str, database: str) -> None:
    """The benchmark's databases are its own scratch, made afresh at each run: nothing an older
    run or an older version of the stage left in one (rows, migrations) counts."""
    drop_database(database)
    process = ManagedProcess(REPO_ROOT / stage, "migrate", "-v0", env=bench_env(database))
    if process.wait(timeout=300) != 0:
        raise RuntimeError(f"migrate {stage} failed:\n{process.output}")


def reset(database: str) -> None:
    with connect(database) as conn:
        conn.execute("TRUNCATE taskqueue_task RESTART IDENTITY CASCADE")


def server_version() -> str:
    with connect("postgres") as conn:
        return conn.execute("SHOW server_version").fetchone()[0].split()[0]


@contextmanager
def gate(database: str, table: str) -> Iterator[Callable[..., float]]:
    """Hold `table` locked while workers start; `open_gate(waiters, processes)` waits until
    `waiters` sessions are blocked on it (every worker at its first claim), then commits and
    returns that instant, as the server's clock (epoch seconds).

    Python and Django take a second or more to start, longer for the last of four processes
    on two cores; behind the gate that time is left out and all workers start together.
    EXCLUSIVE mode lets plain SELECTs through but stops every claim (FOR UPDATE or UPDATE)."""
    with connect(database, autocommit=False) as conn:
        conn.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")

        def open_gate(waiters: int, processes: Sequence[ManagedProcess] = ()) -> float:
            def all_waiting() -> bool:
                if exited := [p for p in processes if p.popen.poll() is not None]:
                    raise RuntimeError(f"`{exited[0].name}` exited early:\n{exited[0].output}")
                with connect(database) as watcher:
                    (blocked,) = watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = %s AND wait_event_type = 'Lock'",
                        [database],
                    ).fetchone()
                return blocked >= waiters

            wait_until(all_waiting, timeout=120, what=f"{waiters} workers at the gate")
            (opened,) = conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
            conn.commit()
            return float(opened)

        yield open_gate


def wait_all(processes: Sequence[ManagedProcess], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    for process in processes:
        if process.wait(timeout=max(deadline - time.monotonic(), 1)) != 0:
            raise RuntimeError(f"`{process.name}` failed:\n{process.output}")
