"""Who is alive: one row per worker process (`WorkerProcess`), kept fresh by a heartbeat.

Stage 4 renewed a lease on every task a worker held, from a thread of the worker itself. That
breaks in two ways. A task that holds the GIL (a C extension that does not release it, a huge
regular expression) starves the heartbeat thread: the leases run out while the worker is alive,
and its task is taken away and run again beside itself. And a worker holding 100 tasks
rewrites 100 rows per beat.

Stage 5 asks the one who can know: the supervisor (supervisor.py). It is another process, so
no task can starve it; it is the children's parent, so it learns of a death at once; and it
refreshes all its children's rows in one UPDATE, with what each runs now (report.py). A row's
`expires_at` is its last heartbeat plus the lease: a row past it belongs to a process that
nobody vouches for any more (a machine gone, a supervisor killed with its children, a network
cut), and the rescuer (rescuer.py) gives back what it held.

A worker run without a supervisor (in a thread, as `compare_threads` runs several) beats for
itself from a thread, as stage 4 did, with stage 4's weakness.
"""

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import OperationalError
from psycopg import errors

from taskqueue import events, sql
from taskqueue.connections import use_bounded
from taskqueue.db import connection

EVERY = 0.5  # seconds between heartbeats (at most a third of the lease)


@dataclass(frozen=True, slots=True)
class Running:
    """The task a worker process runs now, as its heartbeat reports it."""

    task_id: int
    attempt: int
    started: float  # time.monotonic(), the same clock in every process of the machine
    deadline: float = 0.0  # past it, the supervisor stops the task; 0.0: no time limit

    def overran(self, now: float) -> bool:
        return bool(self.deadline) and now > self.deadline


def worker_id(pid: int, token: str | None = None) -> str:
    """A worker process's name: host, pid and a random token, since the pid alone repeats
    (every container's worker is pid 1). A supervisor names its children before they start."""
    return f"{socket.gethostname()}:{pid}:{token or secrets.token_hex(2)}"


def every(lease: float) -> float:
    return min(EVERY, lease / 3)


def register(worker_id: str, pid: int, supervisor_pid, queues: list[str], lease: float) -> None:
    """A worker process's row, written by the process itself before its first claim."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.REGISTER_PROCESS,
            [worker_id, socket.gethostname(), pid, supervisor_pid, json.dumps(queues), lease],
        )


def beat(running: Iterable[tuple[str, Running | None]], lease: float, now: float) -> list:
    """Refresh these workers' rows with what each runs (`now` is time.monotonic()); return the
    (task id, worker id) of the tasks among theirs that an operator asked to stop."""
    ids, tasks, running_for = [], [], []
    for worker_id, task in running:
        ids.append(worker_id)
        tasks.append(task.task_id if task else None)
        running_for.append(now - task.started if task else None)
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(sql.BEAT, [lease, ids, tasks, running_for])
        if running := [task for task in tasks if task]:
            cursor.execute(sql.TASKS_STARTED, [ids, tasks, running_for, running])
        cursor.execute(sql.CANCEL_REQUESTED, [ids])
        return cursor.fetchall()


def waiting(worker_id: str, idle: bool) -> None:
    """An idle worker that listens says so: enqueues send NOTIFY only while one does
    (migration 0008)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.PROCESS_WAITING, [idle, worker_id])
        if not idle:
            return
        # An enqueue whose trigger looked before that commit found nobody waiting and sent no
        # NOTIFY: wait for its commit (sql.WAKE_LOCK), so that the worker's next look sees its
        # task. A commit slower than lock_timeout: the look after the poll interval finds it.
        try:
            cursor.execute(sql.WAIT_FOR_ENQUEUERS, [sql.WAKE_LOCK])
        except OperationalError as error:
            if not isinstance(error.__cause__, errors.LockNotAvailable):
                raise


def stopped(worker_id: str, how: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql.PROCESS_STOPPED, [how, worker_id])


class Heartbeat(threading.Thread):
    """The heartbeat of a worker that has no supervisor, from a thread of its own."""

    def __init__(self, worker):
        super().__init__(name="heartbeat", daemon=True)
        self.worker = worker
        self.stopped = threading.Event()

    def run(self) -> None:
        worker = self.worker
        use_bounded()  # this thread's statements wait for no lock for ever (connections.py)
        try:
            while not self.stopped.wait(every(worker.lease)):
                try:
                    sent = time.monotonic()
                    beat([(worker.id, worker.report.read())], worker.lease, sent)
                    worker.report.vouch(sent + worker.lease)
                except Exception as error:
                    # The database may be restarting: try again next beat. If it stays away
                    # longer than the lease, our tasks are given back, which is correct.
                    events.emit("heartbeat.error", error=str(error).strip(), worker=worker.id)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
