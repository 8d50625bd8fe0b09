"""Putting a task on the queue, from code.

    greet.enqueue(name="Ada")                          # Django's API (backend.py)
    enqueue("greet", {"name": "Ada"}, key="greet:ada")  # by name, with an idempotency key
    enqueue_many("greet", [{"name": "Ada"}, {"name": "Bob"}])  # many at once, with COPY

Either is an INSERT, so it obeys the caller's transaction: enqueued inside
`transaction.atomic()`, the task becomes visible to workers when that transaction commits, and
never exists if it rolls back (a transaction on the queue's database, if it has one of its own:
db.py). A trigger (migration 0008) sends NOTIFY on commit, which wakes
an idle worker at once.
"""

import functools
import inspect
import json

from django.conf import settings

from taskqueue import registry, sql
from taskqueue.db import ALIAS, atomic, connection, run
from taskqueue.keys import enqueue_with_key
from taskqueue.models import Task


class InvalidArguments(TypeError, ValueError):
    """Arguments the queue cannot store: not JSON, or too big. A TypeError, as Django's own
    backends raise for arguments that are not JSON, and a ValueError for the rest."""


MAX_DEPTH = 64  # lists and objects inside each other: a real task needs a handful
# allow_nan=False: NaN and Infinity are Python's, not JSON's, and PostgreSQL refuses them. One
# encoder for every call: json.dumps() with an option builds a new one each time.
to_json = json.JSONEncoder(allow_nan=False).encode
MAX_KEY_LENGTH = 200  # Task.idempotency_key


def encode_arguments(args, kwargs) -> tuple[str, str]:
    """The arguments as JSON text, ready for the row, or InvalidArguments saying what is
    wrong: not a list and a dict, not JSON, NaN or Infinity, nested too deep, too big."""
    args = [] if args is None else args
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(args, list | tuple):
        raise InvalidArguments(f"args must be a list, not {type(args).__name__}")
    if not isinstance(kwargs, dict):
        raise InvalidArguments(f"kwargs must be a dict, not {type(kwargs).__name__}")
    try:
        args_json = to_json(args) if args else "[]"
        kwargs_json = to_json(kwargs) if kwargs else "{}"
    except RecursionError:
        raise InvalidArguments(f"arguments are nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as error:
        if "Out of range float" in str(error):
            raise InvalidArguments("arguments must be JSON: NaN and Infinity are not") from None
        raise InvalidArguments(f"arguments must be JSON-serializable: {error}") from None
    except TypeError as error:
        raise InvalidArguments(f"arguments must be JSON-serializable: {error}") from None
    # Fewer brackets than levels allowed cannot nest too deep: the exact look only when needed.
    brackets = sum(text.count("[") + text.count("{") for text in (args_json, kwargs_json))
    if brackets > MAX_DEPTH and (too_deep(args) or too_deep(kwargs)):
        raise InvalidArguments(f"arguments are nested more than {MAX_DEPTH} levels deep")
    size, limit = len(args_json) + len(kwargs_json), settings.TASKQUEUE_MAX_ARGUMENTS_BYTES
    if size > limit:
        raise InvalidArguments(
            f"arguments are {size} bytes as JSON, over the limit of {limit}: store big data"
            " elsewhere and pass its id"
        )
    return args_json, kwargs_json


def check_arguments(args, kwargs) -> tuple[list, dict]:
    """JSON-ready copies of the arguments (exactly what a worker will get back: tuples become
    lists), or InvalidArguments saying what is wrong."""
    args_json, kwargs_json = encode_arguments(args, kwargs)
    return json.loads(args_json), json.loads(kwargs_json)


def too_deep(value, levels: int = MAX_DEPTH + 1) -> bool:
    """Whether lists and dicts nest in `value` deeper than `levels`. Recursive, but never
    more than `levels` calls deep: a hostile value nested 100,000 deep stops it at the limit,
    not at the end of Python's stack."""
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list | tuple):
        return False
    if levels == 0:
        return True
    return any(too_deep(item, levels - 1) for item in value)


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


COLUMNS = [field.attname for field in Task._meta.concrete_fields]
# What sql.INSERT_TASK writes that does not come from the task: the new row's other columns.
NEW_ROW = {
    "status": Task.Status.QUEUED, "started_at": None, "finished_at": None, "worker": "",
    "error": "", "result": None, "attempts": 0, "cancel_requested_at": None,
    "idempotency_key": None,
}  # fmt: skip


def insert(definition, args, kwargs, *, key: str | None = None, enqueued_by=None) -> Task:
    """The INSERT behind every enqueue (sql.INSERT_TASK). `definition` is a registered task,
    already validated by the backend (priority, queue, run_after).

    An idempotency key belongs to its owner and its task: the same key from another user, or
    for another task, is another task. (The owner of a task enqueued from code is nobody, and
    nobody's keys are shared by all code.)"""
    args_json, kwargs_json = encode_arguments(args, kwargs)
    # What a worker will get back (tuples become lists); most tasks have no args or no kwargs.
    args = [] if args_json == "[]" else json.loads(args_json)
    kwargs = {} if kwargs_json == "{}" else json.loads(kwargs_json)
    check_signature(definition, args, kwargs)
    check_key(key)
    if key is None:
        # One prepared statement, not the ORM's save(): an enqueue is often on the path of a
        # web request, and the ORM spent more time building this INSERT than PostgreSQL did.
        owner = enqueued_by.pk if enqueued_by is not None else None
        params = [
            definition.module_path, definition.queue_name, definition.priority, args_json,
            kwargs_json, definition.max_attempts, owner, definition.run_after,
        ]  # fmt: skip
        ((id, created_at, run_after),) = run(sql.INSERT_TASK, params)
        # The row as the database now holds it, built as a query's result would be (from_db:
        # a third of the cost of Task(**fields)).
        row = NEW_ROW | {
            "id": id, "name": definition.module_path, "queue_name": definition.queue_name,
            "priority": definition.priority, "args": args, "kwargs": kwargs,
            "created_at": created_at, "run_after": run_after,
            "max_attempts": definition.max_attempts, "enqueued_by_id": owner,
            "worker_ids": [], "errors": [],
        }  # fmt: skip
        return Task.from_db(ALIAS, COLUMNS, [row[column] for column in COLUMNS])
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
    owner, name = fields.pop("enqueued_by"), fields.pop("name")
    return enqueue_with_key(key, name, owner, fields)  # how long a key holds (keys.py)


def enqueue(name: str, kwargs=None, *, args=None, key=None, enqueued_by=None, **using) -> Task:
    """Add a task by name (as stage 4 did), with an idempotency `key` if given. `using`:
    priority, queue_name, run_after, as in Django's `Task.using()`.

    Raises UnknownTask, InvalidArguments, or Django's InvalidTask (priority out of range, a
    queue this backend does not serve, a naive run_after), before anything is written."""
    definition = registry.lookup(name)
    if using:
        definition = definition.using(**using)  # validated by the backend here
    return insert(definition, args, kwargs, key=key, enqueued_by=enqueued_by)


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
    payloads = [encode_arguments(None, kwargs)[1] for kwargs in kwargs_list]
    # COPY's text format, built here: columns apart by tabs, rows by newlines, and a backslash
    # doubled (JSON text has no raw tab or newline: json escapes them). Handing psycopg one
    # block per 10,000 rows costs less than a tuple per row for it to format.
    fixed = (definition.module_path, definition.queue_name, str(definition.priority), "[]", "")
    after = ("", str(definition.max_attempts), Task.Status.QUEUED, "0", "", "[]", "", "[]")
    prefix, suffix = "\t".join(map(copy_text, fixed)), "\t".join(map(copy_text, after)) + "\n"
    connection.ensure_connection()
    # Django's connection wraps a psycopg one: COPY is psycopg's, the errors stay Django's.
    with (
        atomic(),
        connection.wrap_database_errors,
        connection.connection.cursor() as cursor,
        cursor.copy(sql.COPY_TASKS) as copy,
    ):
        for start in range(0, len(payloads), 10_000):
            chunk = payloads[start : start + 10_000]
            copy.write("".join(prefix + copy_text(kwargs) + suffix for kwargs in chunk))
    return len(payloads)


def copy_text(value: str) -> str:
    """A value in COPY's text format."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t")
        value = value.replace("\n", "\\n").replace("\r", "\\r")
    return value
