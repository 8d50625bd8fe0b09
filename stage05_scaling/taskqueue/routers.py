"""A database router that puts the queue in a database of its own (README, "When you outgrow
one PostgreSQL"): the queue's tables (tasks, worker processes, pauses, the per-minute history,
schedule ticks) in the database TASKQUEUE_DATABASE names; everything else, the users and their
API tokens included, where it was.

    DATABASES = {"default": ..., "queue": ...}
    TASKQUEUE_DATABASE = "queue"
    DATABASE_ROUTERS = ["taskqueue.routers.QueueRouter"]

then `manage.py migrate` and `manage.py migrate --database queue`. A task enqueued in a
transaction of the default database is then not part of it: the transactional enqueue holds
only for transactions on the queue's database (`taskqueue.db.atomic()`).
"""

from django.core import checks
from django.db import DEFAULT_DB_ALIAS, router

from taskqueue.db import ALIAS

# "execution": stage 4's table of attempts, which migration 0004 folds into the task's row.
QUEUE_MODELS = {
    "task",
    "queuelevel",
    "queuehead",
    "workerprocess",
    "pausedqueue",
    "minutestats",
    "scheduledtick",
    "execution",
}


def of_the_queue(model) -> bool:
    return model._meta.app_label == "taskqueue" and model._meta.model_name in QUEUE_MODELS


class QueueRouter:
    def db_for_read(self, model, **hints):
        if of_the_queue(model):
            return ALIAS
        instance = hints.get("instance")
        if instance is not None and of_the_queue(type(instance)):
            return DEFAULT_DB_ALIAS  # a task's owner lives with the other users, not with it
        return None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return True  # a task's owner may live in another database (no foreign key constraint)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == "taskqueue" and model_name in QUEUE_MODELS:
            return db == ALIAS
        return db != ALIAS or ALIAS == DEFAULT_DB_ALIAS


def check_queue_database(**kwargs) -> list:
    """TASKQUEUE_DATABASE and the routers must agree, or raw SQL and the ORM would write the
    queue to two databases."""
    from taskqueue.models import Task

    routed = router.db_for_write(Task)
    if routed == ALIAS:
        return []
    return [
        checks.Error(
            f"TASKQUEUE_DATABASE is {ALIAS!r}, but the database routers send the queue's models"
            f" to {routed!r}",
            hint='add "taskqueue.routers.QueueRouter" to DATABASE_ROUTERS',
            id="taskqueue.E002",
        )
    ]
