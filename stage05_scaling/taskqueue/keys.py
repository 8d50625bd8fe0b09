"""An idempotency key's life: what a second enqueue with the same key gets, and until when.

A client that enqueues and does not hear back (a timeout, a dropped connection) sends the same
request again, with the same key: it must not get a second task. So a key belongs to its owner
(who enqueued it), for one task name, and while its task holds it, the same key gets that task
back:
- a task holds its key while it is QUEUED or IN_PROGRESS, and for TASKQUEUE_KEY_WINDOW_HOURS
  (24 by default) after it ended DONE: a repeat within the window is answered, not run again.
  Retention keeps such a task at least that long (retention.py).
- a task that ended FAILED, DEAD or CANCELLED frees its key at once: sending it again is how a
  client retries.
- the same key with other arguments is a mistake (two requests that share a key by accident):
  KeyConflict, a 409 over HTTP, never the first task passed off as the second.
When a key is free but its last task still carries it, the new task takes it over: the old row
keeps everything else. Racing enqueuers with one key are decided by the partial UNIQUE index on
(owner, task, key): one INSERT wins, the others look again and find the winner.
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from taskqueue.db import atomic
from taskqueue.models import Task

KEY_INDEX = "task_idempotency_key"  # the partial UNIQUE index on (owner, task name, key)


class KeyConflict(ValueError):
    """A key held by a task that was enqueued with other arguments."""


def window() -> timedelta:
    return timedelta(hours=settings.TASKQUEUE_KEY_WINDOW_HOURS)


def holds_its_key(task: Task) -> bool:
    if task.status in (Task.Status.QUEUED, Task.Status.IN_PROGRESS):
        return True
    return task.status == Task.Status.DONE and task.finished_at > timezone.now() - window()


def forget_owner(sender, instance, **kwargs) -> None:
    """Before a user is deleted (pre_delete, apps.py): their tasks stay, ownerless, and their
    keys go: an ownerless key would be code's key (code's tasks have no owner), and could meet
    the same key of a task enqueued from code. The key first, then the owner."""
    theirs = Task.objects.filter(enqueued_by_id=instance.pk)
    theirs.exclude(idempotency_key=None).update(idempotency_key=None)
    theirs.update(enqueued_by=None)


def enqueue_with_key(key: str, name: str, owner, fields: dict) -> Task:
    """The task that holds `key` for `owner` and task `name`, or a new one made of `fields`.
    Either way the task comes back with `enqueued_now` saying which."""
    while True:
        with atomic():
            holder = (
                Task.objects.select_for_update()
                .filter(idempotency_key=key, name=name, enqueued_by=owner)
                .first()
            )
            if holder is not None and holds_its_key(holder):
                if (holder.args, holder.kwargs) != (fields["args"], fields["kwargs"]):
                    raise KeyConflict(
                        f"key {key!r} belongs to task {holder.pk}, enqueued with other arguments"
                    )
                holder.enqueued_now = False
                return holder
            if holder is not None:  # its key is free: the new task takes it over
                holder.idempotency_key = None
                holder.save(update_fields=["idempotency_key"])
            try:
                with atomic():
                    task = Task.objects.create(
                        idempotency_key=key, name=name, enqueued_by=owner, **fields
                    )
            except IntegrityError as error:
                if getattr(error.__cause__.diag, "constraint_name", None) != KEY_INDEX:
                    raise
                continue  # another enqueuer's INSERT won: look again, and find its task
            task.enqueued_now = True
            return task
