"""Leases: a claimed task belongs to its worker only while the worker keeps saying it is alive.

The claim gives each task a lease (`lease_expires_at`). While the worker runs, a heartbeat thread
renews the leases of the tasks it holds, every third of the lease. A worker killed with
SIGKILL, or frozen, or cut off from the database, stops renewing; its leases run out, and the
rescuer (rescuer.py) hands the tasks to someone else. A long task whose worker is alive keeps
renewing and is never taken away.
"""

import threading

from django.db import connection

from taskqueue import events
from taskqueue.dbtime import in_seconds
from taskqueue.models import Task


def renew(task_ids, worker_id: str, lease: float) -> int:
    return Task.objects.filter(
        pk__in=task_ids, status=Task.Status.IN_PROGRESS, worker=worker_id
    ).update(lease_expires_at=in_seconds(lease))


class Heartbeat(threading.Thread):
    def __init__(self, worker_id: str, lease: float):
        super().__init__(name="heartbeat", daemon=True)
        self.worker_id = worker_id
        self.lease = lease
        self.stopped = threading.Event()
        # The ids of the tasks the worker holds now; it replaces the whole set each time, so
        # this thread always reads a consistent one.
        self.held: frozenset[int] = frozenset()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.lease / 3):
                try:
                    if self.held:
                        renew(self.held, self.worker_id, self.lease)
                except Exception as error:
                    # The database may be restarting: try again next beat. If it stays away
                    # longer than the lease, our tasks will be rescued, which is correct.
                    events.emit("heartbeat.error", error=str(error).strip(), worker=self.worker_id)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=self.lease)
