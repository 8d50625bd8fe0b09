"""Giving back the tasks of a worker process that is gone.

Two ways to be gone, and who notices each:
- A child process dies (a crash, SIGKILL, the OOM killer, a task past its time limit). Its
  supervisor sees it at once, reads what it was running from its report page (report.py) and
  calls give_back(): no lease to wait for.
- A worker process's row stops being refreshed: a machine or container gone, a supervisor
  killed together with its children, a network cut. No parent is left to tell, so after the
  lease (30 s by default) any supervisor's rescuer finds the row (rescue_lost()) and gives
  back what it held, taking the task the row last said was running as the one that ran.

Of the tasks the worker held:
- the one it was running lost its attempt, and the attempt counts, so that a task that kills
  its worker every time (a poison task) ends DEAD after its last attempt instead of killing
  workers for ever. It goes back to the queue at once (retries.record_failure, `lost`). One
  that an operator cancelled ends CANCELLED; one killed past its time limit fails as if it had
  raised TimeLimitExceeded, and its retry policy decides; one killed past the shutdown's grace
  period goes back to the queue with its attempt counted, as the worker sends back a task it
  interrupts (shutdown.py).
- the others never started (the rest of a batch), or ran and their result was not written
  yet. They go back with the attempt that the claim counted taken back: they lost nothing.
"""

from contextlib import contextmanager

from django.db import DatabaseError

from taskqueue import events, sql
from taskqueue.claim import release
from taskqueue.db import atomic, connection
from taskqueue.models import Task
from taskqueue.registry import TASKS
from taskqueue.report import CANCEL, SHUTDOWN, TIME_LIMIT
from taskqueue.retries import record_cancelled, record_failure
from taskqueue.shutdown import Cancelled, TimeLimitExceeded

RESCUER_LOCK = 0x7A5C_0004  # any number no other code in this database uses for a lock
RESCUE_INTERVAL = 10.0  # seconds between looks for workers gone silent
FROZEN_AFTER = "5s"  # a rescuer idle this long inside its transaction loses it (LIMIT_IDLE)


@contextmanager
def rescuer_transaction():
    """A transaction that cannot outlive a frozen rescuer. A rescuer stopped (SIGSTOP, a
    debugger) inside it would keep the rescuer's lock, or a task's row lock, for as long as it
    stays stopped, and no task would be rescued meanwhile: the server ends it instead."""
    with atomic(), connection.cursor() as cursor:
        cursor.execute(sql.LIMIT_IDLE, [FROZEN_AFTER])
        yield cursor


class WorkerLost(Exception):
    """Recorded as the error of an attempt whose worker died or went silent (never raised)."""


def give_back(
    worker_id: str, running: int | None, why: str, attempt: int | None = None, verdict: int = 0
) -> tuple[str | None, int]:
    """Give back every task `worker_id` holds: `running` (with its `attempt`, when known)
    charged, the others not. `verdict`: why the supervisor stopped it, if it did (report.py).
    Return how the running one ended (None if it was not held any more) and how many others
    went back."""
    with rescuer_transaction():
        outcome = None
        held = Task.objects.select_for_update().filter(
            pk=running or 0, worker=worker_id, status=Task.Status.IN_PROGRESS
        )
        if attempt is not None:
            held = held.filter(attempts=attempt)
        if task := held.first():
            outcome = charge(task, why, verdict)
        with connection.cursor() as cursor:
            cursor.execute(sql.UNCLAIM, [worker_id, running or 0])
            returned = cursor.rowcount
    if outcome:
        events.emit(
            f"task.{outcome.lower()}",
            task=running,
            name=task.name,
            attempt=task.attempts,
            error=why,
            worker=worker_id,
        )
    if outcome or returned:
        events.emit(
            "tasks.given_back", worker=worker_id, running=running or "none", not_started=returned
        )
    return outcome, returned


def charge(task: Task, why: str, verdict: int) -> str:
    if verdict == CANCEL or task.cancel_requested_at is not None:
        record_cancelled(task, Cancelled(why))
        return "CANCELLED"
    if verdict == TIME_LIMIT:
        return record_failure(task, TASKS.get(task.name), TimeLimitExceeded(why))
    if verdict == SHUTDOWN:  # back to the queue, as the worker sends back a task it interrupts
        release([task.id], task.worker, uncount=False)
        return "RELEASED"
    return record_failure(task, None, WorkerLost(why), lost=True)


def rescue_lost() -> list[str]:
    """Give back the tasks of every worker process whose row has expired, and of any worker
    that has no row; return their ids. One rescuer at a time: a transaction-level advisory
    lock lets the first in and the others skip the round."""
    with rescuer_transaction() as cursor:
        cursor.execute(sql.TRY_LOCK, [RESCUER_LOCK])
        if not cursor.fetchone()[0]:
            return []  # another supervisor is rescuing right now
        cursor.execute(sql.GONE_PROCESSES)
        gone = cursor.fetchall()
        rescued = []
        for worker_id, running in gone:
            why = f"worker {worker_id} sent no heartbeat before its lease ran out"
            if given_back(worker_id, running, why):
                cursor.execute(sql.PROCESS_STOPPED, ["lost: no heartbeat", worker_id])
                events.emit("worker.lost", worker=worker_id, running=running or "none")
                rescued.append(worker_id)
        # What ended workers still hold was claimed after they ended: never started.
        cursor.execute(sql.HELD_BY_ENDED_WORKERS)
        for (worker_id,) in cursor.fetchall():
            if given_back(worker_id, None, ""):
                rescued.append(worker_id)
    return rescued


def given_back(worker_id: str, running: int | None, why: str) -> bool:
    """give_back() in a savepoint of the round: one worker whose task's row is locked past
    the lock timeout (an operator's open transaction) waits for the next round, alone."""
    try:
        give_back(worker_id, running, why)
    except DatabaseError as error:
        events.emit("rescuer.skipped", worker=worker_id, error=str(error).strip())
        return False
    return True
