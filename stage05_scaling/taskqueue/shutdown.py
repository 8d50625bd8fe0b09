"""Stopping a worker cleanly on SIGTERM (docker, systemd, Kubernetes) or SIGINT (Ctrl-C).

First signal: stop claiming, let the running task finish within a grace period, release the
claimed tasks that have not started. If the grace period runs out, the running task is
interrupted and released, so that it runs again elsewhere. A second signal: the same, at once.
Further signals change nothing. The exit status says which of these happened.

How: the stop signals are blocked in every thread but one, a "shutdown" thread that waits for
them with sigwait and does the bookkeeping in plain Python, where it may log and take locks. To
stop the running task it sends the main thread SIGUSR1, whose handler raises `Interrupted`
inside the task, and sends it again until the task is gone: a signal that lands just before
the task enters a blocking call (a sleep, a socket read) would otherwise wait until that call
returns.
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


class Interrupted(BaseException):
    """Raised inside a running task to stop it. A BaseException, so that a task's own
    `except Exception:` does not swallow it."""


class Shutdown:
    def __init__(self, grace: float, on_request=lambda shutdown: None):
        self.grace = grace
        self.requested = threading.Event()
        self.exit_code = EXIT_CLEAN
        self.signal_name = ""
        self._on_request = on_request
        self._in_task = False
        self._closed = False

    def install(self) -> None:
        self._main = threading.main_thread().ident
        self._previous_interrupt = signal.signal(INTERRUPT, self._on_interrupt)
        # Threads started from now on inherit this mask, so only the shutdown thread, which
        # waits for them, ever receives the stop signals.
        self._previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
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

    def _next_signal(self, timeout: float) -> int | None:
        """The next stop signal within `timeout` seconds, or None (also once uninstalled)."""
        deadline = time.monotonic() + timeout
        while not self._closed and (remaining := deadline - time.monotonic()) > 0:
            # Short waits, so that uninstall() is noticed quickly.
            info = signal.sigtimedwait(STOP_SIGNALS, min(remaining, 0.1))
            if info is not None:
                return info.si_signo
        return None

    def _watch(self) -> None:
        first = self._next_signal(float("inf"))
        if first is None:
            return
        self.signal_name = signal.Signals(first).name
        self.requested.set()
        self._on_request(self)
        second = self._next_signal(self.grace)
        if self._closed:
            return
        self._stop_task(EXIT_FORCED if second is not None else EXIT_GRACE_EXPIRED)
        while self._next_signal(float("inf")) is not None:
            pass  # a third, fourth, fifth signal: already on the way out

    def _stop_task(self, code: int) -> None:
        # exit_code first: a task about to start sees it in task_running() and does not start.
        self.exit_code = code
        while self._in_task and not self._closed:
            signal.pthread_kill(self._main, INTERRUPT)
            time.sleep(0.05)

    def _on_interrupt(self, signum, frame) -> None:
        # Only the task is ever interrupted, never the worker's own bookkeeping: outside a
        # task, the loop sees exit_code at its next step and stops there.
        if self._in_task:
            self._in_task = False
            raise Interrupted

    @contextmanager
    def task_running(self):
        self._in_task = True
        try:
            if self.exit_code != EXIT_CLEAN:
                raise Interrupted
            yield
        finally:
            self._in_task = False

    def wait(self, seconds: float) -> None:
        """Sleep while idle, but wake up at once when asked to stop."""
        self.requested.wait(seconds)
