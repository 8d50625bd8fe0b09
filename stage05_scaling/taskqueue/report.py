"""How a worker process tells its supervisor what it runs: a few bytes of shared memory.

The supervisor must know at every moment which task each child is running: to give back the
tasks of a child that died without charging an attempt to those it never started, to end a
task that overran its time limit or was cancelled, and to show who runs what. A database write
per task would cost more than most tasks do; a message down a pipe costs a system call on each
side. A shared page costs a memory write: the child writes the running task's id, attempt and
deadline before calling it and clears them after; the parent reads whenever it wants, even
while the task holds the GIL, since it is another process.

The page is a file the parent creates and deletes at once (nothing is left behind, even after
a SIGKILL), passed to the child as an inherited file descriptor.

A read in the middle of a write: the child bumps a sequence number before and after each write
(odd while writing), and the parent reads again when it saw an odd number or a change.
The other direction, the parent's verdict on a task (stop it: time limit, cancelled), has its
own bytes, written by the parent only, before it signals the child; and so has the time until
which the parent's heartbeats vouch for the child (step 6): past it, the rescuer may have given
back what the child claimed, and the child starts none of it (batch.py).
"""

import mmap
import os
import struct
import tempfile
import time

from taskqueue.heartbeat import Running

# seq, task id, attempt, started (monotonic), deadline (monotonic, 0: none)
RUNNING = struct.Struct("=Qqqdd")
# the parent's verdict: task id, kind
VERDICT = struct.Struct("=qq")
# until when (time.monotonic()) the worker's row is surely alive: a heartbeat sent at t with a
# lease of L makes the row live until at least t + L
VOUCHED = struct.Struct("=d")
SIZE = RUNNING.size + VERDICT.size + VOUCHED.size

TIME_LIMIT, CANCEL = 1, 2
# Not written on the page: the parent killed the child, which was still there after the
# shutdown's grace period (supervisor.py).
SHUTDOWN = 3


class Report:
    """One child's page. The parent creates it (`Report()`), the child opens the inherited
    descriptor (`Report(fd)`)."""

    def __init__(self, fd: int | None = None):
        if fd is None:
            with tempfile.TemporaryFile() as file:  # deleted already; the mapping keeps it
                os.ftruncate(file.fileno(), SIZE)
                self.fd = os.dup(file.fileno())
        else:
            self.fd = fd
        self.page = mmap.mmap(self.fd, SIZE)
        self._seq = 0

    # The child's side.

    def running(self, task_id: int, attempt: int, time_limit: float | None) -> None:
        now = time.monotonic()
        self._write(task_id, attempt, now, now + time_limit if time_limit else 0.0)

    def idle(self) -> None:
        self._write(0, 0, 0.0, 0.0)

    def _write(self, task_id: int, attempt: int, started: float, deadline: float) -> None:
        self._seq += 1  # odd: writing
        RUNNING.pack_into(self.page, 0, self._seq, task_id, attempt, started, deadline)
        self._seq += 1
        struct.pack_into("=Q", self.page, 0, self._seq)

    def verdict(self) -> tuple[int, int]:
        """(task id, TIME_LIMIT or CANCEL) that the parent last asked to stop."""
        return VERDICT.unpack_from(self.page, RUNNING.size)

    # The parent's side.

    def read(self) -> Running | None:
        """What the child runs now, or None between tasks."""
        while True:
            seq, task_id, attempt, started, deadline = RUNNING.unpack_from(self.page, 0)
            if seq % 2 == 0 and struct.unpack_from("=Q", self.page, 0)[0] == seq:
                return Running(task_id, attempt, started, deadline) if task_id else None

    def stop(self, task_id: int, kind: int) -> None:
        VERDICT.pack_into(self.page, RUNNING.size, task_id, kind)

    # Both sides: the heartbeat's writer (the parent, or an unsupervised worker's own thread)
    # vouches; the child asks before it starts a task it claimed earlier.

    def vouch(self, until: float) -> None:
        VOUCHED.pack_into(self.page, RUNNING.size + VERDICT.size, until)

    def vouched(self) -> bool:
        (until,) = VOUCHED.unpack_from(self.page, RUNNING.size + VERDICT.size)
        return time.monotonic() < until

    def close(self) -> None:
        self.page.close()
        os.close(self.fd)
