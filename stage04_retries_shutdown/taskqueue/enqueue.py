"""Putting a task on the queue, from code: `enqueue("greet", {"name": "Ada"}, key="greet:ada")`.

It is an INSERT, so it obeys the caller's transaction: enqueued inside `transaction.atomic()`,
the task becomes visible to workers when that transaction commits, and never exists if it rolls
back. No "task ran before its data was committed", no "task for an order that never was".
"""

import json

from django.db import transaction

from taskqueue import registry
from taskqueue.models import Task


def enqueue(name: str, kwargs: dict | None = None, *, key: str | None = None) -> Task:
    """Add a task. With an idempotency `key`, enqueueing the same key again, even at the same
    moment from another process, returns the task that has it instead of adding a second one."""
    spec = registry.lookup(name)  # an unknown name is refused here, before anything is written
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict):
        raise TypeError(f"kwargs must be a dict, not {type(kwargs).__name__}")
    try:
        json.dumps(kwargs)
    except (TypeError, ValueError) as error:
        raise TypeError(f"kwargs must be JSON-serializable: {error}") from None

    fields = {"name": name, "kwargs": kwargs, "max_attempts": spec.max_attempts}
    if key is None:
        return Task.objects.create(**fields)
    # The partial UNIQUE index on idempotency_key decides between racing enqueuers: one INSERT
    # wins, the others fail on the index and read the winner's row.
    with transaction.atomic():
        task, _created = Task.objects.get_or_create(idempotency_key=key, defaults=fields)
    return task
