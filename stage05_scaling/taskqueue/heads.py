"""Moving the heads forward: where each level of a queue (a priority) starts the next claim.

A claimed task leaves an entry in the claim index (task_claimable) that only vacuum removes,
and vacuum removes none while a long transaction holds the horizon back. A claim that began at
the index's first entry would step over every task run since, and cost more with each one: the
queue slows down, falls behind, and slows down more (the MVCC spiral). So each level has a head
(sql.HEADS), and the claim starts there. A claiming worker moves its queues' heads forward every
ADVANCE_EVERY: each move steps over the entries claimed since the last one, once, for all the
claims that follow. The trigger that wakes workers moves a head back for a task that comes in
before it.

The move needs a moment when no transaction is committing a task (the trigger holds the wake
lock shared while it does): most moves take the lock if it is free and otherwise wait for the
next turn; once a move has waited STARVED seconds, the next one waits for the lock, so a stream
of commits cannot hold the heads back for ever (a wait of a commit's length, lock_timeout at
most).
"""

import time

from django.db import OperationalError
from psycopg import errors

from taskqueue import sql
from taskqueue.db import run

ADVANCE_EVERY = 0.1  # seconds: a claim steps over at most this long's claimed tasks
STARVED = 1.0  # seconds without a move before a move waits for the lock


class Heads:
    """A worker's turns at moving the heads of the queues it claims from."""

    def __init__(self, every: float = ADVANCE_EVERY, starved: float = STARVED):
        self.every, self.starved = every, starved
        self._next = 0.0
        self._last_move = time.monotonic()

    def advance_now_and_then(self, queues: list[str]) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every
        wait = now - self._last_move >= self.starved
        try:
            moved = run(sql.ADVANCE, [list(queues), wait])[0][0]
        except OperationalError as error:
            if not isinstance(error.__cause__, errors.LockNotAvailable):
                raise
            return  # a commit held the lock longer than lock_timeout: the next turn
        if moved is not None:  # NULL: the lock was taken, by a commit or another worker's move
            self._last_move = now
