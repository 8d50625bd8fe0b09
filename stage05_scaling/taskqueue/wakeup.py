"""Waking idle workers the moment a task is enqueued: LISTEN/NOTIFY.

A trigger on the task table (migration 0008) runs `NOTIFY taskqueue` when a transaction that
enqueued a task, or put one back in the queue, commits while a worker of its queue waits. Each
worker keeps one extra connection that LISTENs, in a thread of its own, and sets an event that
the idle worker waits on. The payload names the queue (a worker wakes for its own queues only)
and, for a task not due yet, when it comes due: the worker's wait then ends at that time. So an
idle worker does not poll the table fast to be quick to start a task: it sleeps until told,
and still looks every `poll_interval` in case a NOTIFY was missed (a reconnect).

Not every connection can LISTEN: behind PgBouncer in transaction pooling, a session's LISTEN
lands on whichever server connection ran it, and the NOTIFY goes nowhere useful. Django's docs
ask such setups to set DISABLE_SERVER_SIDE_CURSORS; we take that as the sign, and poll with a
backoff instead (TASKQUEUE_LISTEN = "auto" | "on" | "off" overrides). And in case nobody said
so (step 14), the listener checks that it hears: after LISTEN it sends a NOTIFY to itself from
another connection. Until it comes back, the worker polls (and does not say it waits, so no
enqueue pays for a NOTIFY nobody hears); if it never does, the listener says so in the log,
lets go, and tries again a minute later.
"""

import math
import secrets
import threading
import time

from django.conf import settings
from django.db import connections

from taskqueue import events, sql
from taskqueue.db import ALIAS, connection

HEAR_SECONDS = 2.0  # how long a NOTIFY to itself may take to come back
UNHEARD_RETRY = 60.0  # seconds before a listener that did not hear itself tries again


def listen_enabled() -> bool:
    choice = settings.TASKQUEUE_LISTEN
    if choice == "auto":
        return not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS", False)
    return choice == "on"


class Listener(threading.Thread):
    """Sets `wake` for every NOTIFY on sql.CHANNEL about `queues`, now or when the task it
    names comes due; reconnects with a backoff when cut off."""

    def __init__(self, wake: threading.Event, worker_id: str, queues: list[str]):
        super().__init__(name="listener", daemon=True)
        self.wake = wake
        self.worker_id = worker_id
        self.queues = set(queues)
        self.stopped = threading.Event()
        self.listening = threading.Event()  # set while it listens and hears itself (worker.step)
        self._due = math.inf  # time.time() when the earliest task heard of comes due

    def heard(self, payload: str) -> None:
        """`queue`, `queue due-at` (seconds since the epoch), or '' (every worker: pause.py)."""
        queue, _, due = payload.partition(" ")
        if queue and queue not in self.queues:
            return
        if due:
            self.due_at(float(due))
        else:
            self.wake.set()

    def due_at(self, at: float) -> None:
        """A task comes due at `at` (time.time()): the worker's wait ends then, at the latest."""
        if at < self._due or self._due <= time.time():  # sooner, or the last one has come
            self._due = at
            self.wake.set()  # so that the worker waits again, until then

    def seconds_to_due(self) -> float:
        left = self._due - time.time()
        if left <= 0:
            self._due = math.inf
        return max(left, 0.0)

    def run(self) -> None:
        retry_in = 0.5
        while not self.stopped.is_set():
            try:
                # This thread's own Django connection (connections are per thread), used raw:
                # psycopg's notifies() reads what the server pushes.
                connection.ensure_connection()
                raw = connection.connection
                raw.execute(sql.LISTEN)
                if not self.hears_itself(raw):
                    events.emit("listener.unheard", worker=self.worker_id, seconds=HEAR_SECONDS)
                    connection.close()
                    self.stopped.wait(UNHEARD_RETRY)
                    continue
                self.listening.set()
                retry_in = 0.5
                self.wake.set()  # anything enqueued while we were not listening: look now
                while not self.stopped.is_set():
                    for notify in raw.notifies(timeout=0.5, stop_after=1):
                        self.heard(notify.payload)
            except Exception as error:
                self.listening.clear()
                events.emit("listener.error", error=str(error).strip(), worker=self.worker_id)
                connection.close()
                self.wake.set()  # the worker polls while we are away
                self.stopped.wait(retry_in)
                retry_in = min(retry_in * 2, 10.0)
        connection.close()

    def hears_itself(self, raw) -> bool:
        """Send a NOTIFY from another connection; True once it arrives here."""
        token = f"heard:{secrets.token_hex(8)}"  # no queue's name: other workers pass over it
        other = connections.create_connection(ALIAS)
        try:
            with other.cursor() as cursor:
                cursor.execute(sql.HEAR, [token])
        finally:
            other.close()
        deadline = time.monotonic() + HEAR_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            for notify in raw.notifies(timeout=left, stop_after=1):
                if notify.payload == token:
                    return True
                self.heard(notify.payload)
        return False

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=2)
