"""Stopping a worker cleanly on SIGTERM (docker, systemd, Kubernetes) or SIGINT (Ctrl-C), and
stopping one task when the supervisor says so (its time limit, or an operator's cancel).

First signal: stop claiming, let the running task finish within a grace period, release the
claimed tasks that have not started. If the grace period runs out, the running task is
interrupted and released, so that it runs again elsewhere. A second signal: the same, at once.
Further signals change nothing. The exit status says which of these happened.

How: the stop signals are blocked in every thread but one, a "shutdown" thread that waits for
them with sigwait and does the bookkeeping in plain Python, where it may log and take locks. To
stop the running task it sends the main thread SIGUSR1, whose handler raises an exception
inside the task, and sends it again until the task is gone: a signal that lands just before
the task enters a blocking call (a sleep, a socket read) would otherwise wait until that call
returns.

Stage 5: the supervisor sends SIGUSR2 to stop one task (`TaskStopped`): the same thread, the
same way in. A task that holds the GIL cannot be reached this way, since no Python runs until
it lets go; the supervisor then kills the process (supervisor.py).
"""

import signal
import threading
import time
from contextlib import contextmanager

EXIT_CLEAN = 0  # every started task finished
EXIT_GRACE_EXPIRED = 3  # the grace period ran out; the running task was released
EXIT_FORCED = 4  # a second signal; the running task was released

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
INTERRUPT = signal.SIGUSR1
STOP_TASK = signal.SIGUSR2  # from the supervisor: stop the task named in the report page


class Interrupted(BaseException):
    """Raised inside a running task to stop it. A BaseException, so that a task's own
    `except Exception:` does not swallow it."""


class TaskStopped(Interrupted):
    """Raised inside a task the supervisor stopped: `kind` is report.TIME_LIMIT or CANCEL."""

    def __init__(self, kind: int):
        super().__init__(kind)
        self.kind = kind


class TimeLimitExceeded(TimeoutError):
    """Recorded as a task's error when it ran longer than its `timeout` (never raised in it:
    TaskStopped is). A TimeoutError, so that the task's retry policy decides what comes next."""


class Cancelled(Exception):
    """Recorded as the error of a task an operator cancelled while it ran."""


class Shutdown:
    def __init__(self, grace: float, on_request=lambda shutdown: None, on_stop_task=None):
        self.grace = grace
        self.requested = threading.Event()
        self.exit_code = EXIT_CLEAN
        self.signal_name = ""
        self._on_request = on_request
        # Called on the shutdown thread at each STOP_TASK: returns (task id, kind) to stop.
        self._on_stop_task = on_stop_task
        self._in_task = False
        self._task_id = 0
        # Task runs, counted: a retry is another run of the same task id, and a stop meant
        # for one run (still being sent when its retry starts) must leave the next alone.
        self._run = 0
        self._raise: Interrupted = Interrupted()
        self._target = 0  # the run _raise is meant for; 0: whichever runs
        self._stopping = False  # _raise has been sent to the task that runs now
        self._cancel = None  # how to stop the running task if not by SIGUSR1 (coroutines.py)
        self._closed = False

    def install(self) -> None:
        self._main = threading.main_thread().ident
        self._previous_interrupt = signal.signal(INTERRUPT, self._on_interrupt)
        # Threads started from now on inherit this mask, so only the shutdown thread, which
        # waits for them, ever receives the stop signals.
        watched = STOP_SIGNALS | {STOP_TASK}
        self._previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
        self._thread = threading.Thread(target=self._watch, name="shutdown", daemon=True)
        self._thread.start()

    def uninstall(self) -> None:
        self._closed = True
        self._thread.join(timeout=2)
        signal.signal(INTERRUPT, self._previous_interrupt)
        if not self.requested.is_set():
            signal.pthread_sigmask(signal.SIG_SETMASK, self._previous_mask)
        # else: keep the stop signals blocked. The worker exits next, and a late signal (the
        # fifth of five) must not kill it with the default action halfway through its exit.

    def _next_signal(self, deadline: float) -> int | None:
        """The next signal before `deadline` (time.monotonic()), or None (also once
        uninstalled)."""
        while not self._closed and (remaining := deadline - time.monotonic()) > 0:
            # Short waits, so that uninstall() is noticed quickly.
            info = signal.sigtimedwait(STOP_SIGNALS | {STOP_TASK}, min(remaining, 0.1))
            if info is not None:
                return info.si_signo
        return None

    def _watch(self) -> None:
        stops = 0
        grace_ends = float("inf")
        while not self._closed:
            signum = self._next_signal(grace_ends)
            if self._closed:
                return
            if signum == STOP_TASK:
                self._stop_one_task()
            elif signum is None:  # the grace period ran out
                grace_ends = float("inf")
                self._stop_task(EXIT_GRACE_EXPIRED, Interrupted())
            else:
                stops += 1
                if stops == 1:
                    self.signal_name = signal.Signals(signum).name
                    self.requested.set()
                    self._on_request(self)
                    grace_ends = time.monotonic() + self.grace
                elif grace_ends != float("inf"):
                    # a second signal within the grace period; a third, fourth... change nothing
                    grace_ends = float("inf")
                    self._stop_task(EXIT_FORCED, Interrupted())

    def _stop_one_task(self) -> None:
        if self._on_stop_task is None:
            return
        run, (task_id, kind) = self._run, self._on_stop_task()
        if task_id and self._in_task and self._task_id == task_id:
            self._interrupt(TaskStopped(kind), run)

    def _stop_task(self, code: int, error: Interrupted) -> None:
        # exit_code first: a task about to start sees it in task_running() and does not start.
        self.exit_code = code
        self._interrupt(error, 0)

    def _interrupt(self, error: Interrupted, target: int) -> None:
        self._raise, self._target = error, target
        cancelled = False
        while self._in_task and target in (0, self._run) and not self._closed:
            self._stopping = True
            if self._cancel is None:
                signal.pthread_kill(self._main, INTERRUPT)
            elif not cancelled:
                # A coroutine: cancelled on its loop, never interrupted; and once, so that the
                # awaits of its cleanup (`finally`, `async with`) are not cancelled too.
                self._cancel()
                cancelled = True
            time.sleep(0.05)

    def stop_with(self, cancel) -> None:
        """For the next task (until it ends): stop it by calling `cancel`, from another thread,
        instead of raising inside it. The worker's loop runs coroutines this way
        (coroutines.py). Set before task_running(), so that no stop ever lands as SIGUSR1."""
        self._cancel = cancel

    def stopped_by(self) -> Interrupted | None:
        """What stopped the running task by `stop_with`'s cancel, if anything did."""
        return self._raise if self._stopping else None

    def _on_interrupt(self, signum, frame) -> None:
        # Only the task is ever interrupted, never the worker's own bookkeeping: outside a
        # task, the loop sees exit_code at its next step and stops there. A signal meant for
        # one task that lands after it ended leaves the next one alone.
        if self._in_task and self._target in (0, self._run):
            self._in_task = False
            raise self._raise

    @contextmanager
    def task_running(self, task_id: int = 0):
        self._run += 1
        self._task_id = task_id
        self._stopping = False
        self._in_task = True
        try:
            if self.exit_code != EXIT_CLEAN:
                raise Interrupted
            yield
        finally:
            self._in_task = False
            self._task_id = 0
            self._cancel = None

    def wait(self, seconds: float) -> None:
        """Sleep while idle, but wake up at once when asked to stop."""
        self.requested.wait(seconds)
