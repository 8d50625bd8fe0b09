"""The worker's connection to the queue, and its tasks' own.

A task is the application's code: it may leave a transaction open, change a session setting
(`SET statement_timeout`, `SET default_transaction_read_only`), or break its connection (a
backend terminated, a server restarted). On the worker's connection, any of these would change
or break the worker's next claim. So the worker claims and records on a connection of its own,
and while a task runs, Django's `connections[alias]` in this thread is another one, the task's.

After each task its connections are looked at, as Django does between two requests
(`close_old_connections`): one left inside a transaction or in a changed autocommit mode is
closed and replaced, one that saw an error is closed if it no longer answers, and the next
task's first query checks that its connection is alive (CONN_HEALTH_CHECKS). A task that broke
its connection fails alone; the next one gets a working one.

Stage 5, step 4: the worker's own statements take milliseconds. One that waits for a lock held
elsewhere (a migration, an operator's open transaction, a bulk update) must not wait for ever
while the worker holds what it claimed: the worker's connection, and its supervisor's, carry a
lock_timeout and a statement_timeout, past which the server ends the statement; the worker
then gives back what it holds and tries again (worker.recover()). Tasks are not bound by
them: their connections are their own.
"""

import threading

from django.conf import settings
from django.db import connections
from django.db.utils import load_backend
from psycopg.pq import TransactionStatus

from taskqueue.db import ALIAS


def bounded(alias: str = ALIAS):
    """A connection for the worker's and the supervisor's own statements: Django's settings for
    `alias`, plus the time limits TASKQUEUE_LOCK_TIMEOUT and TASKQUEUE_STATEMENT_TIMEOUT."""
    database = connections.settings[alias]
    if database.get("DISABLE_SERVER_SIDE_CURSORS"):
        # A transaction pooler in between (step 14): it cannot carry a session's settings
        # from one server connection to the next, and PgBouncer refuses a client that sends
        # them. Set these two on the worker's role instead (ALTER ROLE ... SET lock_timeout).
        return connections.create_connection(alias)
    options = dict(database["OPTIONS"])
    # client_connection_check_interval: the server notices within a second that the worker
    # of a running statement died, and ends the statement instead of committing it.
    # plan_cache_mode (step 16): the hot statements, the only ones prepared here (db.run), are
    # planned once. In its default mode PostgreSQL planned the claim from several queues again
    # at every run (its generic plan looked dearer than a custom one): 0.6 ms a claim.
    limits = (
        f"-c lock_timeout={round(settings.TASKQUEUE_LOCK_TIMEOUT * 1000)}"
        f" -c statement_timeout={round(settings.TASKQUEUE_STATEMENT_TIMEOUT * 1000)}"
        " -c client_connection_check_interval=1000 -c plan_cache_mode=force_generic_plan"
    )
    options["options"] = f"{options.get('options', '')} {limits}".strip()
    return load_backend(database["ENGINE"]).DatabaseWrapper({**database, "OPTIONS": options}, alias)


def use_bounded(alias: str = ALIAS) -> None:
    """This thread's connection to `alias` is a bounded one from now on (a supervisor's thread)."""
    connections[alias] = bounded(alias)


class TaskConnections:
    def __init__(self, alias: str = ALIAS):
        self.alias = alias
        self.before = connections[alias]  # this thread's, given back by close()
        self.worker = connections[alias] = bounded(alias)  # the worker's own from now on
        self.task = connections.create_connection(alias)  # connects when a task first asks
        # Django keeps each thread's wrappers in asgiref's Local, which in a thread with no
        # running event loop (where the worker swaps them) is a threading.local: set there
        # directly, a swap costs a tenth of a microsecond instead of a few, at every task.
        slots = getattr(connections._connections, "_storage", None)
        self._slots = slots if isinstance(slots, threading.local) else None

    def close(self) -> None:
        """The worker is done: its connections closed, the thread's own back in place."""
        self.worker.close()
        self.task.close()
        connections[self.alias] = self.before

    def for_task(self) -> "TaskConnections":
        """`with connections.for_task():` while a task runs, `connections[alias]` (and
        `django.db.connection`) is the task's; after it, each connection it used is tidied
        for the next task. (A class, not a generator: this runs once per task.)"""
        return self

    def _put(self, wrapper) -> None:
        if self._slots is not None:
            setattr(self._slots, self.alias, wrapper)
        else:
            connections[self.alias] = wrapper

    def __enter__(self) -> None:
        self._put(self.task)

    def __exit__(self, *exception) -> None:
        self._put(self.worker)
        self.task = fit_for_next_task(self.task)
        if len(connections.settings) > 1:  # the task may have used the other databases too
            for wrapper in connections.all(initialized_only=True):
                if wrapper.alias != self.alias:
                    connections[wrapper.alias] = fit_for_next_task(wrapper)

    def close_task_connections(self) -> None:
        """A task stopped in the middle of a query: its connections may be in any state."""
        for wrapper in connections.all(initialized_only=True):
            if wrapper is not self.worker:
                wrapper.close()
        self.task.close()


def fit_for_next_task(wrapper):
    """The wrapper, or a fresh one in its place if the task left it unfit for the next."""
    if wrapper.connection is None:
        return wrapper
    left_open = (
        wrapper.in_atomic_block
        or wrapper.get_autocommit() != wrapper.settings_dict["AUTOCOMMIT"]
        or wrapper.connection.info.transaction_status != TransactionStatus.IDLE
    )
    if left_open:
        wrapper.close()  # the server rolls back what was left open
        return connections.create_connection(wrapper.alias)
    wrapper.close_if_unusable_or_obsolete()  # as Django does at the end of a request
    return wrapper
