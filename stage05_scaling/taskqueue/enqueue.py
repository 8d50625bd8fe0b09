"""Putting a task on the queue, from code.

    greet.enqueue(name="Ada")                          # Django's API (backend.py)
    enqueue("greet", {"name": "Ada"}, key="greet:ada")  # by name, with an idempotency key
    enqueue_many("greet", [{"name": "Ada"}, {"name": "Bob"}])  # many at once, with COPY

Either is an INSERT, so it obeys the caller's transaction: enqueued inside
`transaction.atomic()`, the task becomes visible to workers when that transaction commits, and
never exists if it rolls back. A trigger (migration 0004) sends NOTIFY on commit, which wakes
an idle worker at once.
"""

import json

from django.conf import settings
from django.db import connection, transaction

from taskqueue import registry
from taskqueue.models import Task


class InvalidArguments(TypeError, ValueError):
    """Arguments the queue cannot store: not JSON, or too big. A TypeError, as Django's own
    backends raise for arguments that are not JSON, and a ValueError for the rest."""


def check_arguments(args, kwargs) -> tuple[list, dict]:
    """JSON-ready copies of the arguments, or InvalidArguments saying what is wrong."""
    args = [] if args is None else args
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(args, list | tuple):
        raise InvalidArguments(f"args must be a list, not {type(args).__name__}")
    if not isinstance(kwargs, dict):
        raise InvalidArguments(f"kwargs must be a dict, not {type(kwargs).__name__}")
    try:
        payload = json.dumps([args, kwargs])
    except (TypeError, ValueError) as error:
        raise InvalidArguments(f"arguments must be JSON-serializable: {error}") from None
    limit = settings.TASKQUEUE_MAX_ARGUMENTS_BYTES
    if len(payload) > limit:
        raise InvalidArguments(
            f"arguments are {len(payload)} bytes as JSON, over the limit of {limit}: store big"
            " data elsewhere and pass its id"
        )
    return json.loads(payload)  # exactly what a worker will get back: tuples become lists


def insert(definition, args, kwargs, *, key: str | None = None, enqueued_by=None) -> Task:
    """The INSERT behind every enqueue. `definition` is a registered task, already validated
    by the backend (priority, queue, run_after)."""
    args, kwargs = check_arguments(args, kwargs)
    fields = {
        "name": definition.module_path,
        "queue_name": definition.queue_name,
        "priority": definition.priority,
        "args": args,
        "kwargs": kwargs,
        "max_attempts": definition.max_attempts,
        "enqueued_by": enqueued_by,
    }
    if definition.run_after is not None:
        fields["run_after"] = definition.run_after
    if key is None:
        return Task.objects.create(**fields)
    # The partial UNIQUE index on idempotency_key decides between racing enqueuers: one INSERT
    # wins, the others fail on the index and read the winner's row.
    with transaction.atomic():
        task, _created = Task.objects.get_or_create(idempotency_key=key, defaults=fields)
    return task


def enqueue(name: str, kwargs=None, *, args=None, key=None, enqueued_by=None, **using) -> Task:
    """Add a task by name (as stage 4 did), with an idempotency `key` if given. `using`:
    priority, queue_name, run_after, as in Django's `Task.using()`.

    Raises UnknownTask, InvalidArguments, or Django's InvalidTask (priority out of range, a
    queue this backend does not serve, a naive run_after), before anything is written."""
    definition = registry.lookup(name)
    if using:
        definition = definition.using(**using)  # validated by the backend here
    return insert(definition, args, kwargs, key=key, enqueued_by=enqueued_by)


# The columns a new task needs from us; created_at and run_after are database defaults.
COPY_TASKS = """
COPY taskqueue_task (name, queue_name, priority, args, kwargs, max_attempts, status, attempts,
                     worker, worker_ids, error, errors)
FROM STDIN
"""


def enqueue_many(name: str, kwargs_list, **using) -> int:
    """Add one task of `name` for each kwargs dict in `kwargs_list`, in one COPY; return how
    many. `using` as for enqueue(). All or nothing: every argument is checked before a row is
    sent, and the COPY runs in the caller's transaction (or its own).

    COPY streams the rows in one statement: no SQL to parse per row, no round trip per row.
    The NOTIFY trigger fires once for the statement, as for a bulk INSERT."""
    definition = registry.lookup(name)
    if using:
        definition = definition.using(**using)
    if definition.run_after is not None:
        raise InvalidArguments("enqueue_many takes no run_after: use enqueue() for those")
    payloads = [check_arguments(None, kwargs) for kwargs in kwargs_list]
    fixed = (definition.module_path, definition.queue_name, definition.priority)
    after = (definition.max_attempts, Task.Status.QUEUED, 0, "", "[]", "", "[]")
    connection.ensure_connection()
    # Django's connection wraps a psycopg one: COPY is psycopg's, the errors stay Django's.
    with (
        transaction.atomic(),
        connection.wrap_database_errors,
        connection.connection.cursor() as cursor,
        cursor.copy(COPY_TASKS) as copy,
    ):
        for args, kwargs in payloads:
            copy.write_row((*fixed, json.dumps(args), json.dumps(kwargs), *after))
    return len(payloads)
