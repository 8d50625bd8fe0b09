"""Run a stage's `manage.py` commands as child processes and watch what they print.

Used by the demos (start two workers, wait until they are ready) and by the tests (real worker
processes, real signals). Waiting is always for a line the process prints, never a fixed sleep.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from workshop import REPO_ROOT


def wait_until(condition: Callable[[], object], timeout: float = 30, what: str = "condition"):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds.

    For waiting on another process's effect (rows in a table, a lock in pg_locks), instead of
    sleeping a fixed time and hoping."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def run_manage(stage: str, *args: str) -> str:
    """Run `python manage.py ARGS` in a stage folder to the end; return what it printed.

    The output is plain and wide: a Jupyter kernel asks child processes for colour
    (FORCE_COLOR), which would put escape codes into the tables a caller may read."""
    plain = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT / stage,
        capture_output=True,
        text=True,
        env={**plain, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


MANAGE_PY = ("manage.py",)


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class ManagedProcess:
    """`python manage.py ARGS...` in a child process, its output collected line by line.

    `program` runs another Python program instead, e.g. `("-m", "gunicorn")`."""

    def __init__(
        self,
        stage_dir: Path,
        *args: str,
        env: dict | None = None,
        program: Sequence[str] = MANAGE_PY,
    ):
        self.args = args
        self.name = " ".join([*program, *args])
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.popen = subprocess.Popen(
            [sys.executable, *program, *args],
            cwd=stage_dir,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            # As a terminal starts it: a shell's background job (`make test &`, nohup) ignores
            # SIGINT, and its children would inherit that and never see a Ctrl-C.
            preexec_fn=default_sigint,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match:
        """Block until a printed line matches `pattern`; fail with the output so far if not."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                finished = self.popen.poll() is not None and not self._reader.is_alive()
                if remaining <= 0 or finished:
                    raise TimeoutError(
                        f"`{self.name}` printed no line matching {pattern!r}"
                        f" (exit code {self.popen.poll()}); output:\n{self.output}"
                    )
                self._changed.wait(min(remaining, 0.5))

    def send_signal(self, signum: int = signal.SIGTERM) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        code = self.popen.wait(timeout)
        self._reader.join(timeout)
        return code

    def stop(self, signum: int = signal.SIGINT, timeout: float = 30) -> int:
        """Ask the process to stop, and kill it if it has not within `timeout` seconds."""
        if self.popen.poll() is None:
            self.popen.send_signal(signum)
            try:
                return self.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self.wait(timeout)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def web_server(stage_dir: Path, workers: int = 2) -> Iterator[str]:
    """A stage's Django project served by gunicorn, as in production, on a free local port;
    yields its base URL and stops it on the way out."""
    port = free_port()
    server = ManagedProcess(
        stage_dir,
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        program=("-m", "gunicorn"),
    )
    try:
        server.wait_for("Listening at")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
