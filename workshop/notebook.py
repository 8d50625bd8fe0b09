"""Helpers for the notebooks in notebooks/: the same database the stages use, and the stages'
own commands, without the plumbing in the way of the lesson."""

import importlib
import os
import sys

import psycopg

from workshop import REPO_ROOT
from workshop.database import server_url
from workshop.demo import read_table
from workshop.processes import run_manage, wait_until


def migrate(stage: str) -> None:
    run_manage(stage, "migrate", "--verbosity", "0")


def connect(stage: str) -> psycopg.Connection:
    """A connection to a stage's database, in autocommit mode: BEGIN and COMMIT are yours."""
    return psycopg.connect(server_url(stage), autocommit=True)


def backend_pid(connection: psycopg.Connection) -> int:
    return connection.info.backend_pid


def show_locks(observer: psycopg.Connection, *connections: psycopg.Connection) -> None:
    """Print the locks and wait state of each connection's session, as pg_locks shows them."""
    names = {backend_pid(c): f"worker {chr(ord('A') + i)}" for i, c in enumerate(connections)}
    rows = observer.execute(
        "SELECT l.pid, l.locktype, coalesce(c.relname, l.transactionid::text, ''), l.mode,"
        " l.granted, coalesce(a.wait_event_type, '')"
        " FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
        " LEFT JOIN pg_class c ON c.oid = l.relation"
        " WHERE l.pid = ANY(%s) AND l.locktype IN ('relation', 'transactionid', 'tuple')"
        " AND (c.relname IS NULL OR c.relname = 'taskqueue_task')"
        " ORDER BY l.pid, l.locktype",
        [list(names)],
    ).fetchall()
    print(f"{'session':<10} {'lock':<14} {'on':<16} {'mode':<20} {'granted':<8} waits for")
    for pid, locktype, target, mode, granted, waiting in rows:
        print(f"{names[pid]:<10} {locktype:<14} {target:<16} {mode:<20} {granted!s:<8} {waiting}")


def wait_until_waiting(observer: psycopg.Connection, connection: psycopg.Connection) -> None:
    """Return once `connection`'s session is blocked on a lock (10 s at most)."""

    def waiting() -> bool:
        state = observer.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
            [backend_pid(connection)],
        ).fetchone()
        return bool(state) and state[0] == "Lock"

    wait_until(waiting, timeout=10, what="the session to block on a lock")


def run_demo(stage: str, *args: str) -> dict[str, dict]:
    """Run a stage's `demo` and return its table: {first column: {column: value}}."""
    return read_table(run_manage(stage, "demo", *args))


def stage_module(stage: str, module: str):
    """Import a module of one stage's Django project into this kernel (one stage per kernel)."""
    import django

    sys.path.insert(0, str(REPO_ROOT / stage))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    django.setup()
    return importlib.import_module(module)
