"""The worker loop: claim a batch, run each task, record how it ended, repeat.

Stage 5 adds: a claim and a completion that cost one round trip per batch, not per task
(claim.py, done.py); LISTEN/NOTIFY, so that an idle worker starts a new task at once without
polling hard (wakeup.py); Django's Tasks API (backend.py); a supervisor that keeps the worker
processes running and vouches for them (supervisor.py), told by each what it runs (report.py);
and periodic tasks, enqueued by the workers at each tick of a schedule (schedules.py).
"""

import functools
import json
import os
import threading
import time
from datetime import UTC, datetime
from inspect import iscoroutinefunction

from django.db import InterfaceError, OperationalError
from django.tasks import TaskContext, TaskResultStatus, default_task_backend
from django.tasks.signals import task_finished, task_started
from django.utils import timezone

from taskqueue import events, heartbeat, registry
from taskqueue.backend import PostgresBackend, task_result_from_claim, worker_signals_wanted
from taskqueue.batch import Batch, BatchWatch
from taskqueue.claim import Claimed, claim_batch, release
from taskqueue.connections import TaskConnections
from taskqueue.coroutines import Coroutines
from taskqueue.db import connection
from taskqueue.done import Completions
from taskqueue.heads import Heads
from taskqueue.pause import Pauses
from taskqueue.prefetch import Prefetch
from taskqueue.report import CANCEL, Report
from taskqueue.rescuer import RESCUE_INTERVAL, give_back, rescue_lost
from taskqueue.retention import prune_a_little
from taskqueue.retries import record_cancelled, record_failure
from taskqueue.rollup import roll_up
from taskqueue.schedules import Scheduler
from taskqueue.shutdown import (
    EXIT_CLEAN,
    Cancelled,
    Interrupted,
    Shutdown,
    TaskStopped,
    TimeLimitExceeded,
)
from taskqueue.wakeup import Listener, listen_enabled

# The defaults, stated once: the `worker` command's options take theirs from here.
POLL_INTERVAL = 1.0
LEASE = 30.0
GRACE = 25.0
HOUSEKEEPING_INTERVAL = 10.0


class Worker:
    def __init__(
        self,
        queues: list[str] | None = None,
        batch_size: int | None = None,
        poll_interval: float = POLL_INTERVAL,
        burst: bool = False,
        lease: float = LEASE,
        grace: float = GRACE,
        rescue_interval: float = RESCUE_INTERVAL,
        housekeeping_interval: float = HOUSEKEEPING_INTERVAL,
        listen: bool | None = None,
        supervisor: tuple[int, Report, str] | None = None,
    ):
        """`supervisor`: (its pid, the report page it reads, the worker id it gave) when this
        worker is a child of `manage.py worker` (supervisor.py); None for a worker that beats
        for itself (in a thread, as compare_threads runs them)."""
        self.supervisor_pid, self.report, self.id = supervisor or (
            None,
            Report(),
            heartbeat.worker_id(os.getpid()),
        )
        self.queues = queues or sorted(default_task_backend.queues)
        self.prefetch = Prefetch(batch_size)  # the claim's size: batch_size, or adapted
        self.pauses = Pauses(self.queues)  # which of them an operator paused (pause.py)
        self.heads = Heads()  # where the claims start reading (heads.py)
        self.poll_interval = poll_interval
        self.burst = burst
        self.lease = lease
        self.rescue_interval = rescue_interval
        self._next_rescue = 0.0
        self.housekeeping_interval = housekeeping_interval
        self.listen = listen_enabled() if listen is None else listen
        self.wake = threading.Event()  # set by a NOTIFY, and by a stop request
        self.shutdown = Shutdown(grace, on_request=self.stopping, on_stop_task=self.report.verdict)
        self.completions = Completions(self.id)
        # A burst worker drains the queue and exits: it has no ticks to wait for.
        self.scheduler = Scheduler(self.id, [] if burst else None)
        self.processed = 0
        self.signals = True  # send django.tasks' task_started/task_finished (see step())
        self._next_housekeeping = 0.0
        self._idle_wait = 0.0
        self._registered = False
        self._waiting = False  # told the database it waits for a NOTIFY (heartbeat.waiting)
        self._recover = False  # a database error cut a batch short
        self._current: Claimed | None = None  # the task whose outcome is not recorded yet

    def run(self, signals: bool = True) -> int:
        """Loop until stopped (or, with `burst`, until nothing is due); return the exit status.

        `signals=False` leaves SIGTERM and Ctrl-C alone, for a worker run in a thread (only the
        main thread may handle signals): `compare_threads` does that, a deployment does not."""
        if signals:
            self.shutdown.install()
        # Its row again before the first claim: the end of an earlier run marked it stopped,
        # and the claim takes nothing for a worker whose row says it ended.
        self._registered = False
        # This thread's connection is the worker's own from now on; tasks get theirs.
        self.connections = TaskConnections()
        self.coroutines = Coroutines()
        self.watch = BatchWatch(self.id, self.completions)  # the batch, while a task runs
        self.watch.start()
        # A supervised worker's heartbeat is its supervisor's business (heartbeat.py).
        self.heartbeat = None if self.supervisor_pid else heartbeat.Heartbeat(self)
        if self.heartbeat:
            self.heartbeat.start()
        self.listener = Listener(self.wake, self.id, self.queues) if self.listen else None
        if self.listener:
            self.listener.start()
        events.emit(
            "worker.ready",
            worker=self.id,
            queues=",".join(self.queues),
            batch=self.prefetch.fixed or "auto",
            lease=self.lease,
            supervisor=self.supervisor_pid or "none",
            wakeup="notify" if self.listen else "poll",
            schedules=",".join(s.name for s in self.scheduler.schedules) or "none",
        )
        retry_in = 0.0
        try:
            while not self.shutdown.requested.is_set():
                try:
                    if not self.step():
                        break
                    retry_in = 0.0
                except (OperationalError, InterfaceError) as error:
                    # The database restarts or is unreachable: try again, at once the first
                    # time (a session ended by pg_terminate_backend, a pooler's restart: the
                    # server is there), then with backoff. Finished results wait in
                    # completions; the rest of the batch is given back once the database is
                    # back (recover()).
                    self._recover = True
                    events.emit(
                        "worker.db_error",
                        error=str(error).strip(),
                        retry_in=retry_in,
                        worker=self.id,
                    )
                    connection.close()
                    self.shutdown.wait(retry_in)
                    retry_in = min(max(retry_in * 2, 0.25), 30.0)
            self.flush()
        except (OperationalError, InterfaceError) as error:
            events.emit("worker.db_error", error=str(error).strip(), worker=self.id)
        finally:
            if signals:
                self.shutdown.uninstall()
            if self.listener:
                self.listener.stop()
            self.watch.stop()
            if self.heartbeat:
                self.heartbeat.stop()
                self.stopped_row()
            self.connections.close()
        if self.shutdown.requested.is_set():
            events.emit(
                "worker.stopped",
                worker=self.id,
                exit=self.shutdown.exit_code,
                signal=self.shutdown.signal_name,
                processed=self.processed,
            )
        elif self.burst:
            events.emit("worker.drained", worker=self.id, processed=self.processed)
        return self.shutdown.exit_code

    def step(self) -> bool:
        """Claim, run what was claimed. False when a burst worker finds nothing due."""
        if not self._registered:
            # Before the first claim: a task must never be held by a worker without a row.
            sent = time.monotonic()
            heartbeat.register(self.id, os.getpid(), self.supervisor_pid, self.queues, self.lease)
            self.report.vouch(sent + self.lease)
            self._registered = True
        if self._recover:
            self.recover()
        if not self.supervisor_pid:
            self.rescue()  # a supervised worker's supervisor does it
        self.housekeeping_now_and_then()
        self.scheduler.enqueue_due()  # at each tick of a schedule, else nothing
        queues, changed = self.pauses.claimable()
        if changed is not None:
            events.emit("queues.paused", worker=self.id, paused=",".join(sorted(changed)) or "none")
        self.wake.clear()  # a NOTIFY from now on wakes the wait below
        if queues:
            # The last batch's results are written by the same statement that claims the next.
            tasks = claim_batch(self.prefetch.size, self.id, queues, self.completions)
            if tasks:
                self.heads.claimed()
        else:
            self.flush()  # every queue of ours is paused: write the results, claim nothing
            tasks = []
        if not tasks:
            if queues:
                self.heads.advance_now_and_then(queues)  # nothing due: no task waits for it
            if self.burst:
                return False
            heard = self.listen and self.listener.listening.is_set()  # it hears NOTIFY now
            if heard and not self._waiting:
                # Say so, then look once more before sleeping: an enqueue that committed before
                # the flag sent no NOTIFY, and this second look finds its task.
                heartbeat.waiting(self.id, True)
                self._waiting = True
                return True
            if self._waiting and not heard:
                heartbeat.waiting(self.id, False)  # nobody hears: enqueues need not notify
                self._waiting = False
            self.wait_idle(heard)
            return True
        if self._waiting:
            heartbeat.waiting(self.id, False)  # busy: enqueues need not notify for us
            self._waiting = False
        self._idle_wait = 0.0
        events.emit("claim", worker=self.id, tasks=len(tasks))
        self.signals = worker_signals_wanted()
        started = time.perf_counter()
        if ran := self.run_batch(tasks):
            self.prefetch.ran(ran, time.perf_counter() - started)
        # After the batch, not before the claim: a worker woken for a new task starts it first.
        self.heads.advance_now_and_then(queues)
        return True

    def wait_idle(self, heard: bool) -> None:
        """Nothing due. Hearing NOTIFY: sleep until one, looking anyway every poll_interval.
        Polling (or while the listener is away): look again soon, then less and less often,
        up to poll_interval.
        Either way, wake up for the next tick of a schedule."""
        # A stop request sets `requested`, then `wake`. step() cleared `wake` before the claim:
        # a request that came before the clear shows here, one after it ends the wait below.
        if self.shutdown.requested.is_set():
            return
        if heard:
            timeout = min(self.poll_interval, self.listener.seconds_to_due())
        else:
            self._idle_wait = min(max(self._idle_wait * 2, 0.01), self.poll_interval)
            timeout = self._idle_wait
        self.wake.wait(min(timeout, self.scheduler.seconds_to_next_look()))

    def flush(self) -> None:
        if self.completions.ids:
            self.completions.flush()

    def recover(self) -> None:
        """After a database error cut a batch short: write the results that waited, then give
        back what this worker still holds. Its heartbeat went on all along, so nobody else
        would: the task whose outcome could not be written is charged, the rest not."""
        self.flush()
        self.report.idle()
        task, self._current = self._current, None
        give_back(
            self.id,
            task.id if task else None,
            "the worker lost the database before it could record how the attempt ended",
            attempt=task.attempts if task else None,
        )
        self._recover = False

    def rescue(self) -> None:
        """Every rescue_interval: give back the tasks of workers gone silent (rescuer.py)."""
        now = time.monotonic()
        if now >= self._next_rescue:
            self._next_rescue = now + self.rescue_interval
            rescue_lost()

    def stopped_row(self) -> None:
        """An unsupervised worker writes its own end (a supervised one's parent does)."""
        try:
            heartbeat.stopped(self.id, f"exit {self.shutdown.exit_code}")
        except (OperationalError, InterfaceError):
            pass  # the rescuer writes it off when the row expires
        finally:
            connection.close()

    def stopping(self, shutdown: Shutdown) -> None:
        self.wake.set()
        events.emit(
            "worker.stopping", worker=self.id, signal=shutdown.signal_name, grace=shutdown.grace
        )

    def housekeeping_now_and_then(self) -> None:
        """Every housekeeping_interval: prune old tasks, count the last minutes (one worker at a
        time does each)."""
        if time.monotonic() >= self._next_housekeeping:
            self._next_housekeeping = time.monotonic() + self.housekeeping_interval
            self.flush()  # the last batch's results first: pruning may take retention.BUDGET
            if pruned := prune_a_little():
                events.emit("tasks.pruned", tasks=pruned, worker=self.id)
            roll_up()  # the minutes that ended, for the dashboard's charts (rollup.py)

    def run_batch(self, tasks: list[Claimed]) -> int:
        """Run the batch in order, as long as its claim holds (batch.py); return how many tasks
        started, or 0 if a stop request or a lapsed heartbeat cut it short."""
        batch = Batch(tasks)
        self.watch.running(batch)
        ran = 0
        try:
            while (task := batch.next()) is not None:
                if self.shutdown.requested.is_set():
                    self.release_unstarted([task, *batch.rest()], "shutdown, not started")
                    return 0
                if not self.report.vouched():  # no heartbeat for a lease: perhaps given back
                    self.release_unstarted([task, *batch.rest()], "no heartbeat for a lease")
                    return 0
                self.execute(task)
                ran += 1
                if self.completions.due():
                    self.flush()
                if self.shutdown.exit_code != EXIT_CLEAN:
                    self.release_unstarted(batch.rest(), "shutdown, not started")
                    return 0
            return ran
        finally:
            # Taken from the batch by the watch, which could not give them back: this worker's.
            self.release_unstarted(self.watch.done_with(batch), "the batch ran over its budget")

    def release_unstarted(self, tasks: list[Claimed], reason: str) -> None:
        """Claimed, not started: back to the queue at once, attempt not counted."""
        if tasks:
            release([task.id for task in tasks], self.id, uncount=True)
            events.emit("task.released", tasks=len(tasks), reason=reason, worker=self.id)

    def execute(self, task: Claimed) -> None:
        task.started, task.started_at = time.monotonic(), datetime.now(UTC)
        # The line first: a worker killed between the two has printed that it starts a task it
        # never ran, never the other way round.
        events.emit(
            "task.start", task=task.id, name=task.name, attempt=task.attempts, worker=self.id
        )
        # From here the attempt counts as started: the supervisor reads this page (report.py).
        # A memory write, no I/O; cleared once the outcome is recorded. Not when something
        # else ends the worker first (a database error, which recover() deals with; a process
        # that goes down): the page keeps naming the task, and its attempt is charged.
        self.report.running(task.id, task.attempts, None)
        self._current = task
        self.run_one(task)
        self._current = None  # its outcome is written, or waits in completions
        self.report.idle()

    def run_one(self, task: Claimed) -> None:
        started = time.perf_counter()
        definition = result = None
        try:
            definition = registry.lookup(task.name)
            if definition.timeout:
                self.report.running(task.id, task.attempts, definition.timeout)
            if self.signals or definition.takes_context:
                result = task_result_from_claim(task, definition)
            # The connections first: a stop lands only while the task runs, never while the
            # worker takes its own connection back (shutdown.py).
            with self.connections.for_task():
                if self.signals:  # its receivers are the application's code, as the task is
                    task_started.send(PostgresBackend, task_result=result)
                if is_coroutine(definition.func):  # stopped by a cancel, not by a signal
                    self.shutdown.stop_with(self.coroutines.cancel)
                with self.shutdown.task_running(task.id):
                    value = self.call(definition, result, task)
            result_json = encode(value)
        except TaskStopped as stop:
            # The supervisor stopped it: past its time limit, or cancelled by an operator.
            self.connections.close_task_connections()  # cut off, perhaps mid-query
            self.stopped_task(task, definition, stop)
            if self.signals and result is not None:
                finished(result, TaskResultStatus.FAILED)
        except Interrupted:
            # Stopped mid-task by the shutdown: the task goes back to the queue to run again.
            self.connections.close_task_connections()  # cut off, perhaps mid-query
            release([task.id], self.id, uncount=False)
            events.emit(
                "task.released",
                task=task.id,
                name=task.name,
                attempt=task.attempts,
                worker=self.id,
                reason="shutdown",
            )
            return
        except (Exception, SystemExit) as error:
            # A failing task must never take the worker down with it: not even one that calls
            # sys.exit() (a command-line entry point run as a task), which would otherwise run
            # again and again, uncharged, each time ending its worker.
            self.flush()  # keep the order of writes simple: earlier results first
            # A return value that is not JSON is a bug in the task: running it again won't help.
            retry_policy = None if isinstance(error, ResultNotJSON) else definition
            outcome = record_failure(task, retry_policy, error)
            if outcome == "RETRY" and self.listener:  # its NOTIFY found this worker busy
                self.listener.due_at(time.time() + task.retry_in)
            events.emit(
                f"task.{outcome.lower()}",
                task=task.id,
                name=task.name,
                attempt=task.attempts,
                error=type(error).__name__,
                message=str(error),
                **({"retry_in": round(task.retry_in, 3)} if outcome == "RETRY" else {}),
                worker=self.id,
            )
            if self.signals and result is not None:
                finished(result, TaskResultStatus.FAILED)
        else:
            self.completions.add(task.id, task.attempts, result_json, task.started)
            events.emit(
                "task.done",
                task=task.id,
                name=task.name,
                attempt=task.attempts,
                ms=round((time.perf_counter() - started) * 1000, 3),
                worker=self.id,
            )
            if self.signals:
                finished(result, TaskResultStatus.SUCCESSFUL)
        self.processed += 1

    def call(self, definition, result, task: Claimed):
        """Run the task function as Django's API says: with a TaskContext first if it asks for
        one, and a coroutine function to completion, on the worker's loop (coroutines.py)."""
        args = task.args
        if definition.takes_context:
            args = [TaskContext(task_result=result), *args]
        if is_coroutine(definition.func):
            return self.coroutines.run(definition.func(*args, **task.kwargs), self.shutdown)
        return definition.func(*args, **task.kwargs)

    def stopped_task(self, task: Claimed, definition, stop: TaskStopped) -> None:
        if stop.kind == CANCEL:
            record_cancelled(task, Cancelled("cancelled by an operator while it ran"))
            outcome, fields = "CANCELLED", {}
        else:
            error = TimeLimitExceeded(f"ran longer than its time limit of {definition.timeout:g} s")
            outcome = record_failure(task, definition, error)
            fields = {"retry_in": round(task.retry_in, 3)} if outcome == "RETRY" else {}
        events.emit(
            f"task.{outcome.lower()}",
            task=task.id,
            name=task.name,
            attempt=task.attempts,
            error="TimeLimitExceeded" if stop.kind != CANCEL else "Cancelled",
            **fields,
            worker=self.id,
        )


class ResultNotJSON(TypeError):
    """A task returned something that cannot be stored as JSON (a set, a model instance)."""


def encode(value) -> str:
    """The return value as JSON text, as Django's Tasks API requires of results."""
    if value is None:
        return "null"  # what most tasks return
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as error:
        raise ResultNotJSON(f"the task's return value is not JSON: {error}") from None


def finished(result, status) -> None:
    """Django's task_finished signal, with the result as it ended (TaskResult is frozen)."""
    object.__setattr__(result, "status", status)
    object.__setattr__(result, "finished_at", timezone.now())
    # A receiver that raises is the application's bug: it must not end the worker.
    for receiver, error in task_finished.send_robust(PostgresBackend, task_result=result):
        if isinstance(error, Exception):
            events.emit(
                "signal.error", receiver=getattr(receiver, "__name__", receiver), error=error
            )


@functools.cache
def is_coroutine(function) -> bool:
    return iscoroutinefunction(function)  # asked once per function, not once per task
