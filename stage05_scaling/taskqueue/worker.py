"""The worker loop: claim a batch, run each task, record how it ended, repeat.

Stage 5 adds: a claim and a completion that cost one round trip per batch, not per task
(claim.py, done.py); LISTEN/NOTIFY, so that an idle worker starts a new task at once without
polling hard (wakeup.py); Django's Tasks API (backend.py); `--processes N` (supervisor.py);
and periodic tasks, enqueued by the workers at each tick of a schedule (schedules.py).
"""

import functools
import json
import os
import secrets
import socket
import threading
import time
from inspect import iscoroutinefunction

from asgiref.sync import async_to_sync
from django.db import InterfaceError, OperationalError, connection
from django.tasks import TaskContext, TaskResultStatus, default_task_backend
from django.tasks.signals import task_finished, task_started
from django.utils import timezone

from taskqueue import events, registry
from taskqueue.backend import PostgresBackend, task_result_from_claim, worker_signals_wanted
from taskqueue.claim import Claimed, claim_batch, release
from taskqueue.done import Completions
from taskqueue.leases import Heartbeat
from taskqueue.rescuer import rescue_expired
from taskqueue.retention import prune_a_little
from taskqueue.retries import record_failure
from taskqueue.schedules import Scheduler
from taskqueue.shutdown import EXIT_CLEAN, Interrupted, Shutdown
from taskqueue.wakeup import Listener, listen_enabled


class Worker:
    def __init__(
        self,
        queues: list[str] | None = None,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        burst: bool = False,
        lease: float = 30.0,
        grace: float = 30.0,
        rescue_interval: float = 10.0,
        listen: bool | None = None,
    ):
        # The pid alone repeats (every container's worker is pid 1): add a random suffix.
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self.queues = queues or sorted(default_task_backend.queues)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.burst = burst
        self.lease = lease
        self.rescue_interval = rescue_interval
        self.listen = listen_enabled() if listen is None else listen
        self.wake = threading.Event()  # set by a NOTIFY, and by a stop request
        self.shutdown = Shutdown(grace, on_request=self.stopping)
        self.completions = Completions(self.id)
        # A burst worker drains the queue and exits: it has no ticks to wait for.
        self.scheduler = Scheduler(self.id, [] if burst else None)
        self.processed = 0
        self.signals = True  # send django.tasks' task_started/task_finished (see step())
        self._next_rescue = 0.0
        self._idle_wait = 0.0

    def run(self, signals: bool = True) -> int:
        """Loop until stopped (or, with `burst`, until nothing is due); return the exit status.

        `signals=False` leaves SIGTERM and Ctrl-C alone, for a worker run in a thread (only the
        main thread may handle signals): `compare_threads` does that, a deployment does not."""
        if signals:
            self.shutdown.install()
        self.heartbeat = Heartbeat(self.id, self.lease)
        self.heartbeat.start()
        self.listener = Listener(self.wake, self.id) if self.listen else None
        if self.listener:
            self.listener.start()
        events.emit(
            "worker.ready",
            worker=self.id,
            queues=",".join(self.queues),
            batch=self.batch_size,
            lease=self.lease,
            wakeup="notify" if self.listen else "poll",
            schedules=",".join(s.name for s in self.scheduler.schedules) or "none",
        )
        retry_in = 1.0
        try:
            while not self.shutdown.requested.is_set():
                try:
                    if not self.step():
                        break
                    retry_in = 1.0
                except (OperationalError, InterfaceError) as error:
                    # The database restarts or is unreachable: wait and try again, with
                    # backoff. What this worker held goes unrenewed and is rescued if it
                    # stays away longer than a lease; finished results wait in completions.
                    self.heartbeat.held = frozenset(self.completions.ids)
                    events.emit(
                        "worker.db_error",
                        error=str(error).strip(),
                        retry_in=retry_in,
                        worker=self.id,
                    )
                    connection.close()
                    self.shutdown.wait(retry_in)
                    retry_in = min(retry_in * 2, 30.0)
            self.flush()
        except (OperationalError, InterfaceError) as error:
            events.emit("worker.db_error", error=str(error).strip(), worker=self.id)
        finally:
            if signals:
                self.shutdown.uninstall()
            if self.listener:
                self.listener.stop()
            self.heartbeat.stop()
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
        """Rescue, claim, run what was claimed. False when a burst worker finds nothing due."""
        self.rescue_now_and_then()
        self.scheduler.enqueue_due()  # at each tick of a schedule, else nothing
        self.flush()  # results left by a batch that a database error cut short
        self.wake.clear()  # a NOTIFY from now on wakes the wait below
        tasks = claim_batch(self.batch_size, self.id, self.queues, self.lease)
        if not tasks:
            if self.burst:
                return False
            self.wait_idle()
            return True
        self._idle_wait = 0.0
        events.emit("claim", worker=self.id, tasks=len(tasks))
        self.signals = worker_signals_wanted()
        self.heartbeat.held = frozenset(task.id for task in tasks)
        self.run_batch(tasks)
        self.flush()
        return True

    def wait_idle(self) -> None:
        """Nothing due. Listening: sleep until a NOTIFY, looking anyway every poll_interval.
        Polling: look again soon, then less and less often, up to poll_interval.
        Either way, wake up for the next tick of a schedule."""
        # A stop request sets `requested`, then `wake`. step() cleared `wake` before the claim:
        # a request that came before the clear shows here, one after it ends the wait below.
        if self.shutdown.requested.is_set():
            return
        if self.listen:
            timeout = self.poll_interval
        else:
            self._idle_wait = min(max(self._idle_wait * 2, 0.01), self.poll_interval)
            timeout = self._idle_wait
        self.wake.wait(min(timeout, self.scheduler.seconds_to_next_look()))

    def flush(self) -> None:
        if self.completions.ids:
            done = self.completions.flush()
            self.heartbeat.held -= done

    def stopping(self, shutdown: Shutdown) -> None:
        self.wake.set()
        events.emit(
            "worker.stopping", worker=self.id, signal=shutdown.signal_name, grace=shutdown.grace
        )

    def rescue_now_and_then(self) -> None:
        """Housekeeping, every rescue_interval: rescue expired leases, prune old tasks."""
        if time.monotonic() >= self._next_rescue:
            self._next_rescue = time.monotonic() + self.rescue_interval
            rescue_expired(self.id)
            if pruned := prune_a_little():
                events.emit("tasks.pruned", tasks=pruned, worker=self.id)

    def run_batch(self, tasks: list[Claimed]) -> None:
        for index, task in enumerate(tasks):
            if self.shutdown.requested.is_set():
                self.release_unstarted(tasks[index:])
                return
            self.execute(task)
            if self.completions.due():
                self.flush()
            if self.shutdown.exit_code != EXIT_CLEAN:
                self.release_unstarted(tasks[index + 1 :])
                return

    def release_unstarted(self, tasks: list[Claimed]) -> None:
        """Claimed, not started: back to the queue at once, attempt not counted."""
        if tasks:
            release([task.id for task in tasks], self.id, uncount=True)
            self.heartbeat.held -= {task.id for task in tasks}
            events.emit(
                "task.released", tasks=len(tasks), reason="shutdown, not started", worker=self.id
            )

    def execute(self, task: Claimed) -> None:
        events.emit(
            "task.start", task=task.id, name=task.name, attempt=task.attempts, worker=self.id
        )
        started = time.perf_counter()
        definition = result = None
        try:
            definition = registry.lookup(task.name)
            if self.signals or definition.takes_context:
                result = task_result_from_claim(task, definition)
            if self.signals:
                task_started.send(PostgresBackend, task_result=result)
            with self.shutdown.task_running():
                value = call(definition, result, task)
            result_json = encode(value)
        except Interrupted:
            # Stopped mid-task by the shutdown: the task goes back to the queue to run again.
            connection.close()  # the task may have been cut off in the middle of a query
            release([task.id], self.id, uncount=False)
            self.heartbeat.held -= {task.id}
            events.emit(
                "task.released",
                task=task.id,
                name=task.name,
                attempt=task.attempts,
                worker=self.id,
                reason="shutdown",
            )
            return
        except Exception as error:
            # A failing task must never take the worker down with it.
            self.flush()  # keep the order of writes simple: earlier results first
            # A return value that is not JSON is a bug in the task: running it again won't help.
            retry_policy = None if isinstance(error, ResultNotJSON) else definition
            outcome = record_failure(task, retry_policy, error)
            self.heartbeat.held -= {task.id}
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
            self.completions.add(task.id, result_json)
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
    task_finished.send(PostgresBackend, task_result=result)


def call(definition, result, task: Claimed):
    """Run the task function as Django's API says: with a TaskContext first if it asks for
    one, and a coroutine function to completion."""
    args = [TaskContext(task_result=result), *task.args] if definition.takes_context else task.args
    if is_coroutine(definition.func):
        return async_to_sync(definition.func)(*args, **task.kwargs)
    return definition.func(*args, **task.kwargs)


@functools.cache
def is_coroutine(function) -> bool:
    return iscoroutinefunction(function)  # asked once per function, not once per task
