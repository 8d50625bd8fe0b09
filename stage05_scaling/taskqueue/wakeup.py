"""Waking idle workers the moment a task is enqueued: LISTEN/NOTIFY.

A trigger on the task table (migration 0008) runs `NOTIFY taskqueue` when an INSERT commits.
Each worker keeps one extra connection that LISTENs, in a thread of its own, and sets an event
that the idle worker waits on. So an idle worker does not poll the table fast to be quick to
start a task: it sleeps until told, and still looks every `poll_interval` in case a NOTIFY was
missed (a reconnect) or a retry came due (`run_after` passing sends no NOTIFY).

Not every connection can LISTEN: behind PgBouncer in transaction pooling, a session's LISTEN
lands on whichever server connection ran it, and the NOTIFY goes nowhere useful. Django's docs
ask such setups to set DISABLE_SERVER_SIDE_CURSORS; we take that as the sign, and poll with a
backoff instead (TASKQUEUE_LISTEN = "auto" | "on" | "off" overrides).
"""

import threading

from django.conf import settings
from django.db import connection

from taskqueue import events, sql


def listen_enabled() -> bool:
    choice = settings.TASKQUEUE_LISTEN
    if choice == "auto":
        return not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS", False)
    return choice == "on"


class Listener(threading.Thread):
    """Sets `wake` for every NOTIFY on sql.CHANNEL; reconnects with a backoff when cut off."""

    def __init__(self, wake: threading.Event, worker_id: str):
        super().__init__(name="listener", daemon=True)
        self.wake = wake
        self.worker_id = worker_id
        self.stopped = threading.Event()
        self.listening = threading.Event()  # set while LISTEN is active (the tests wait on it)

    def run(self) -> None:
        retry_in = 0.5
        while not self.stopped.is_set():
            try:
                # This thread's own Django connection (connections are per thread), used raw:
                # psycopg's notifies() reads what the server pushes.
                connection.ensure_connection()
                raw = connection.connection
                raw.execute(sql.LISTEN)
                self.listening.set()
                retry_in = 0.5
                self.wake.set()  # anything enqueued while we were not listening: look now
                while not self.stopped.is_set():
                    for _ in raw.notifies(timeout=0.5, stop_after=1):
                        self.wake.set()
            except Exception as error:
                self.listening.clear()
                events.emit("listener.error", error=str(error).strip(), worker=self.worker_id)
                connection.close()
                self.wake.set()  # the worker polls while we are away
                self.stopped.wait(retry_in)
                retry_in = min(retry_in * 2, 10.0)
        connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=2)
