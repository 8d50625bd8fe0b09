"""The worker loop: claim a batch, run each task, record how it ended, repeat.

Stage 4 adds: retries (retries.py), a clean shutdown (shutdown.py), leases kept alive by a
heartbeat (leases.py), a rescuer for the tasks of dead workers (rescuer.py), and one log event
per step (events.py).
"""

import os
import secrets
import socket
import time
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from taskqueue import events, registry
from taskqueue.claim import claim_batch, release
from taskqueue.leases import Heartbeat
from taskqueue.models import Execution, Task
from taskqueue.rescuer import rescue_expired
from taskqueue.retries import record_failure
from taskqueue.shutdown import EXIT_CLEAN, Interrupted, Shutdown


class Worker:
    def __init__(
        self,
        claim: Callable = claim_batch,
        batch_size: int = 10,
        poll_interval: float = 1.0,
        race_window: float = 0.0,
        burst: bool = False,
        lease: float = 30.0,
        grace: float = 30.0,
        rescue_interval: float = 10.0,
    ):
        # The pid alone repeats (every container's worker is pid 1): add a random suffix.
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self.claim = claim
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.race_window = race_window
        self.burst = burst
        self.lease = lease
        self.rescue_interval = rescue_interval
        self.shutdown = Shutdown(grace, on_request=self.stopping)
        self.processed = 0
        self._next_rescue = 0.0

    def run(self) -> int:
        """Loop until stopped (or, with `burst`, until nothing is due); return the exit status."""
        self.shutdown.install()
        self.heartbeat = Heartbeat(self.id, self.lease)
        self.heartbeat.start()
        events.emit("worker.ready", worker=self.id, batch=self.batch_size, lease=self.lease)
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
                    # stays away longer than a lease.
                    self.heartbeat.held = frozenset()
                    events.emit(
                        "worker.db_error",
                        error=str(error).strip(),
                        retry_in=retry_in,
                        worker=self.id,
                    )
                    connection.close()
                    self.shutdown.wait(retry_in)
                    retry_in = min(retry_in * 2, 30.0)
        finally:
            self.shutdown.uninstall()
            self.heartbeat.stop()
        if self.shutdown.requested.is_set():
            events.emit(
                "worker.stopped",
                worker=self.id,
                exit=self.shutdown.exit_code,
                signal=self.shutdown.signal_name,
                processed=self.processed,
            )
        return self.shutdown.exit_code

    def step(self) -> bool:
        """Rescue, claim, run what was claimed. False when a burst worker finds nothing due."""
        self.rescue_now_and_then()
        tasks = self.claim(self.batch_size, self.id, self.race_window, self.lease)
        if not tasks:
            if self.burst:
                return False
            self.shutdown.wait(self.poll_interval)
            return True
        events.emit("claim", worker=self.id, tasks=len(tasks))
        self.heartbeat.held = frozenset(task.pk for task in tasks)
        self.run_batch(tasks)
        self.heartbeat.held = frozenset()
        return True

    def stopping(self, shutdown: Shutdown) -> None:
        events.emit(
            "worker.stopping", worker=self.id, signal=shutdown.signal_name, grace=shutdown.grace
        )

    def rescue_now_and_then(self) -> None:
        if time.monotonic() >= self._next_rescue:
            self._next_rescue = time.monotonic() + self.rescue_interval
            rescue_expired(self.id)

    def run_batch(self, tasks: list[Task]) -> None:
        for index, task in enumerate(tasks):
            if self.shutdown.requested.is_set():
                # Claimed, not started: back to the queue at once, attempt not counted.
                release(tasks[index:], self.id, uncount=True)
                events.emit(
                    "task.released",
                    tasks=len(tasks) - index,
                    reason="shutdown, not started",
                    worker=self.id,
                )
                return
            self.execute(task)
            self.heartbeat.held -= {task.pk}
            if self.shutdown.exit_code != EXIT_CLEAN and tasks[index + 1 :]:
                release(tasks[index + 1 :], self.id, uncount=True)
                events.emit(
                    "task.released",
                    tasks=len(tasks) - index - 1,
                    reason="shutdown, not started",
                    worker=self.id,
                )
                return

    def execute(self, task: Task) -> None:
        execution = Execution.objects.create(task=task, attempt=task.attempts, worker=self.id)
        events.emit(
            "task.start", task=task.pk, name=task.name, attempt=task.attempts, worker=self.id
        )
        started = time.perf_counter()
        spec = None
        try:
            spec = registry.lookup(task.name)
            with self.shutdown.task_running():
                spec.function(**task.kwargs)
        except Interrupted:
            # Stopped mid-task by the shutdown: the task goes back to the queue to run again.
            connection.close()  # the task may have been cut off in the middle of a query
            Execution.objects.filter(pk=execution.pk).update(
                outcome=Execution.Outcome.INTERRUPTED, finished_at=timezone.now()
            )
            release([task], self.id, uncount=False)
            events.emit(
                "task.released",
                task=task.pk,
                name=task.name,
                attempt=task.attempts,
                worker=self.id,
                reason="shutdown",
            )
            return
        except Exception as error:
            # A failing task must never take the worker down with it.
            outcome = record_failure(task, execution, spec, error)
            events.emit(
                f"task.{outcome.lower()}",
                task=task.pk,
                name=task.name,
                attempt=task.attempts,
                error=execution.error_type,
                message=execution.error_message,
                **({"retry_in": round(task.retry_in, 3)} if outcome == "RETRY" else {}),
                worker=self.id,
            )
        else:
            now = timezone.now()
            Execution.objects.filter(pk=execution.pk).update(
                outcome=Execution.Outcome.DONE, finished_at=now
            )
            mine = Task.objects.filter(pk=task.pk, worker=self.id, status=Task.Status.IN_PROGRESS)
            if not mine.update(
                status=Task.Status.DONE, finished_at=now, error="", lease_expires_at=None
            ):
                # Our lease ran out while the task ran (a long pause, a lost database): it was
                # rescued and belongs to another attempt now. Leave the row to that attempt.
                events.emit("task.lease_lost", task=task.pk, name=task.name, worker=self.id)
            events.emit(
                "task.done",
                task=task.pk,
                name=task.name,
                attempt=task.attempts,
                ms=round((time.perf_counter() - started) * 1000, 1),
                worker=self.id,
            )
        self.processed += 1
