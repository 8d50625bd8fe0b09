"""`worker --processes N`: N worker processes under one parent that keeps them running.

Why processes, not threads: a worker is mostly Python (deciding, decoding, calling the task),
and CPython runs Python in one thread at a time, so threads add waiting, not throughput, until
tasks spend their time in I/O. Processes use every core, and one that dies takes nobody else
with it. (The stage README measures both.)

The parent runs no tasks and touches no database. It:
- starts N children, each `manage.py worker` with the same options, in a process group of its
  own, so that a Ctrl-C in the terminal reaches the parent alone and is passed on once;
- restarts a child that exits unasked (a crash, a SIGKILL, the OOM killer), after a pause that
  grows while children keep dying young, so that a crash loop does not spin;
- on SIGTERM or SIGINT passes the signal to every child and waits for them: each finishes its
  task within its grace period (stage 4). A second signal is passed on too (children stop at
  once). It exits with the worst exit status of its children.
"""

import signal
import subprocess
import sys
import time

from taskqueue import events
from taskqueue.shutdown import STOP_SIGNALS

YOUNG = 5.0  # seconds: a child that dies younger than this counts towards the crash backoff


class Child:
    def __init__(self, command: list[str]):
        self.command = command
        self.process = subprocess.Popen(command, start_new_session=True)
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.process.pid


class Supervisor:
    def __init__(self, command: list[str], processes: int, burst: bool = False):
        self.command = command
        self.processes = processes
        # Burst children exit 0 when the queue is empty: that is the end, not a crash.
        self.burst = burst
        self.children: list[Child] = []
        self.stop_signals: list[int] = []
        self.restarts = 0
        self._crash_delay = 0.0

    def run(self) -> int:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        self.children = [Child(self.command) for _ in range(self.processes)]
        events.emit(
            "supervisor.ready",
            processes=self.processes,
            pids=",".join(str(child.pid) for child in self.children),
        )
        while not self.stop_signals:
            if self.burst and all(child.process.poll() == 0 for child in self.children):
                break
            self._restart_dead()
            time.sleep(0.1)
        codes = [child.process.wait() for child in self.children]
        code = max((code for code in codes if code > 0), default=0)
        events.emit("supervisor.stopped", exit=code, restarts=self.restarts)
        return code

    def _on_signal(self, signum, frame) -> None:
        self.stop_signals.append(signum)
        if len(self.stop_signals) == 1:
            events.emit("supervisor.stopping", signal=signal.Signals(signum).name)
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signum)

    def _restart_dead(self) -> None:
        for index, child in enumerate(self.children):
            code = child.process.poll()
            if code is None or self.stop_signals or (self.burst and code == 0):
                continue
            lived = time.monotonic() - child.started
            self._crash_delay = min(max(self._crash_delay * 2, 0.5), 30.0) if lived < YOUNG else 0
            events.emit(
                "supervisor.child_exited",
                pid=child.pid,
                exit=code,
                lived=round(lived, 1),
                restart_in=self._crash_delay,
            )
            deadline = time.monotonic() + self._crash_delay
            while time.monotonic() < deadline and not self.stop_signals:
                time.sleep(0.05)
            if self.stop_signals:
                return
            self.children[index] = Child(self.command)
            self.restarts += 1
            events.emit("supervisor.restarted", old=child.pid, pid=self.children[index].pid)


def worker_command(options: list[str]) -> list[str]:
    """The command line of one child: this same manage.py, `worker`, the given options."""
    return [sys.executable, sys.argv[0], "worker", *options]
