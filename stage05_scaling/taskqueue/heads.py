"""Moving the heads forward: where each level of a queue (a priority) starts the next claim.

A claimed task leaves an entry in the claim index (task_claimable) that only vacuum removes,
and vacuum removes none while a long transaction holds the horizon back. A claim that began at
the index's first entry would step over every task run since, and cost more with each one: the
queue slows down, falls behind, and slows down more (the MVCC spiral). So each level has a head
(sql.HEADS), and the claim starts there. A worker that claimed moves its queues' heads forward
ADVANCE_EVERY later: each move steps over the entries claimed since the last one, once, for all
the claims that follow. The trigger that wakes workers moves a head back for a task that comes
in before it.

The move needs a moment when no transaction is committing a task (the trigger holds the wake
lock shared while it does): most moves take the lock if it is free and otherwise wait for the
next turn; once the heads have not moved for STARVED seconds, a move waits for the lock, up to
50 ms (taskqueue_advance), so that a stream of commits back to back cannot hold them back.
A head that does not move costs the claims more reads, never a task.
"""

import time

from taskqueue import sql
from taskqueue.db import run

ADVANCE_EVERY = 0.1  # seconds: a claim steps over at most this long's claimed tasks
STARVED = 1.0  # seconds without the lock before a move waits for it


class Heads:
    """A worker's turns at moving the heads of the queues it claims from."""

    def __init__(self, every: float = ADVANCE_EVERY, starved: float = STARVED):
        self.every, self.starved = every, starved
        self._next = 0.0
        self._locked = time.monotonic()  # when a move last had the lock
        self._owed = False  # claimed since the last move: there is something to step over

    def claimed(self) -> None:
        """This worker claimed tasks: their entries are behind the heads' next move. A worker
        that claims nothing moves nothing (an idle queue costs no writes)."""
        self._owed = True

    def advance_now_and_then(self, queues: list[str]) -> None:
        """After a batch, or a claim that found nothing (never between a wake-up and the
        claim): move the heads, if this worker claimed since the last move, ADVANCE_EVERY
        apart. A worker that then waits for a NOTIFY moves them when it next looks (at least
        every poll interval); until then the claims step over at most ADVANCE_EVERY's
        entries, once."""
        now = time.monotonic()
        if not self._owed or now < self._next:
            return
        self._next = now + self.every
        wait = now - self._locked >= self.starved
        moved = run(sql.ADVANCE, [list(queues), wait])[0][0]
        if moved is not None:  # NULL: the lock was taken, by a commit or another worker's move
            self._locked, self._owed = now, False
