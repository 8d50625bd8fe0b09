"""Stopping a worker cleanly on SIGTERM (docker, systemd, Kubernetes) or SIGINT (Ctrl-C).

First signal: stop claiming, let the running task finish within a grace period, release the
claimed tasks that have not started. If the grace period runs out, the running task is
interrupted and released, so that it runs again elsewhere. A second signal: the same, at once.
Further signals change nothing. The exit status says which of these happened.
"""

import signal
import threading
from contextlib import contextmanager

EXIT_CLEAN = 0  # every started task finished
EXIT_GRACE_EXPIRED = 3  # the grace period ran out; the running task was released
EXIT_FORCED = 4  # a second signal; the running task was released


class Interrupted(BaseException):
    """Raised inside a running task to stop it. A BaseException, so that a task's own
    `except Exception:` does not swallow it."""


class Shutdown:
    def __init__(self, grace: float, on_request=lambda shutdown: None):
        self.grace = grace
        self.requested = threading.Event()
        self.exit_code = EXIT_CLEAN
        self.signal_name = ""
        self._in_task = False
        self._on_request = on_request
        self._closed = False

    def install(self) -> None:
        self._previous = {
            signal.SIGTERM: signal.signal(signal.SIGTERM, self._on_signal),
            signal.SIGINT: signal.signal(signal.SIGINT, self._on_signal),
            signal.SIGALRM: signal.signal(signal.SIGALRM, self._on_grace_expired),
        }
        # A signal handler must not log (it may interrupt a log write in progress): a thread
        # of its own waits for the request and reports it.
        threading.Thread(target=self._report, name="shutdown", daemon=True).start()

    def _report(self) -> None:
        while not self.requested.wait(0.5):
            if self._closed:
                return
        self._on_request(self)

    def uninstall(self) -> None:
        self._closed = True
        self.cancel_timer()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum, frame) -> None:
        if not self.requested.is_set():
            self.signal_name = signal.Signals(signum).name
            self.requested.set()
            signal.setitimer(signal.ITIMER_REAL, max(self.grace, 0.001))
        elif self.exit_code == EXIT_CLEAN:
            self._interrupt(EXIT_FORCED)
        # a third, fourth, fifth signal: already on the way out

    def _on_grace_expired(self, signum, frame) -> None:
        if self.exit_code == EXIT_CLEAN:
            self._interrupt(EXIT_GRACE_EXPIRED)

    def _interrupt(self, code: int) -> None:
        self.exit_code = code
        self.cancel_timer()
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

    def cancel_timer(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    def wait(self, seconds: float) -> None:
        """Sleep while idle, but wake up at once when asked to stop."""
        self.requested.wait(seconds)
