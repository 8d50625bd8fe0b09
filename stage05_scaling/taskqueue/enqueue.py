"""Putting a task on the queue, from code.

    greet.enqueue(name="Ada")                          # Django's API (backend.py)
    enqueue("greet", {"name": "Ada"}, key="greet:ada")  # by name, with an idempotency key
    enqueue_many("greet", [{"name": "Ada"}, {"name": "Bob"}])  # many at once, with COPY

Either is an INSERT, so it obeys the caller's transaction: enqueued inside
`transaction.atomic()`, the task becomes visible to workers when that transaction commits, and
never exists if it rolls back. A trigger (migration 0004) sends NOTIFY on commit, which wakes
an idle worker at once.
"""

import functools
import inspect
import json

from django.conf import settings
from django.db import connection, transaction

from taskqueue import registry
from taskqueue.models import Task


class InvalidArguments(TypeError, ValueError):
    """Arguments the queue cannot store: not JSON, or too big. A TypeError, as Django's own
    backends raise for arguments that are not JSON, and a ValueError for the rest."""


MAX_DEPTH = 64  # lists and objects inside each other: a real task needs a handful
MAX_KEY_LENGTH = 200  # Task.idempotency_key


def check_arguments(args, kwargs) -> tuple[list, dict]:
    """JSON-ready copies of the arguments, or InvalidArguments saying what is wrong."""
    args = [] if args is None else args
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(args, list | tuple):
        raise InvalidArguments(f"args must be a list, not {type(args).__name__}")
    if not isinstance(kwargs, dict):
        raise InvalidArguments(f"kwargs must be a dict, not {type(kwargs).__name__}")
    if depth([args, kwargs]) > MAX_DEPTH + 1:
        raise InvalidArguments(f"arguments are nested more than {MAX_DEPTH} levels deep")
    try:
        # allow_nan=False: NaN and Infinity are Python's, not JSON's, and PostgreSQL refuses them.
        payload = json.dumps([args, kwargs], allow_nan=False)
    except ValueError as error:
        if "Out of range float" in str(error):
            raise InvalidArguments("arguments must be JSON: NaN and Infinity are not") from None
        raise InvalidArguments(f"arguments must be JSON-serializable: {error}") from None
    except TypeError as error:
        raise InvalidArguments(f"arguments must be JSON-serializable: {error}") from None
    limit = settings.TASKQUEUE_MAX_ARGUMENTS_BYTES
    if len(payload) > limit:
        raise InvalidArguments(
            f"arguments are {len(payload)} bytes as JSON, over the limit of {limit}: store big"
            " data elsewhere and pass its id"
        )
    return json.loads(payload)  # exactly what a worker will get back: tuples become lists


def depth(value) -> int:
    """How deeply lists and dicts nest in `value`, counted without recursion (a hostile value
    nested 100,000 deep must not blow Python's stack), stopping past MAX_DEPTH."""
    deepest, level = 0, [value]
    while level and deepest <= MAX_DEPTH + 1:
        containers = [item for item in level if isinstance(item, list | tuple | dict)]
        if not containers:
            break
        deepest += 1
        level = [
            child
            for container in containers
            for child in (container.values() if isinstance(container, dict) else container)
        ]
    return deepest


def check_signature(definition, args, kwargs) -> None:
    """Arguments the function cannot take are refused now, not found out by a worker later."""
    signature = signature_of(definition.func, definition.takes_context)
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        name = definition.func.__name__
        raise InvalidArguments(f"arguments do not fit {name}{signature}: {error}") from None


@functools.cache
def signature_of(function, takes_context: bool) -> inspect.Signature:
    signature = inspect.signature(function)
    if takes_context:  # the worker passes the TaskContext first
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    return signature


def check_key(key) -> None:
    if key is not None and not (isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH):
        raise InvalidArguments(f"key must be a string of 1 to {MAX_KEY_LENGTH} characters")


def insert(definition, args, kwargs, *, key: str | None = None, enqueued_by=None) -> Task:
    """The INSERT behind every enqueue. `definition` is a registered task, already validated
    by the backend (priority, queue, run_after).

    An idempotency key belongs to its owner and its task: the same key from another user, or
    for another task, is another task. (The owner of a task enqueued from code is nobody, and
    nobody's keys are shared by all code.)"""
    args, kwargs = check_arguments(args, kwargs)
    check_signature(definition, args, kwargs)
    check_key(key)
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
    # The partial UNIQUE index on (owner, task, key) decides between racing enqueuers: one
    # INSERT wins, the others fail on the index and read the winner's row.
    owner = fields.pop("enqueued_by")
    with transaction.atomic():
        task, _created = Task.objects.get_or_create(
            idempotency_key=key, name=fields.pop("name"), enqueued_by=owner, defaults=fields
        )
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
