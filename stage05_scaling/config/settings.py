"""Settings: the shared defaults, this stage's app and its own database, and the queue."""

from pathlib import Path

from workshop.database import database_settings
from workshop.settings import *  # noqa: F403 (shared defaults: secret key, middleware, logging)
from workshop.settings import DJANGO_APPS, env

BASE_DIR = Path(__file__).resolve().parent.parent

INSTALLED_APPS = [*DJANGO_APPS, "taskqueue", "lab"]

DATABASES = {"default": database_settings(BASE_DIR.name)}
# The queue in a database of its own, on the same server (taskqueue/routers.py):
# TASKQUEUE_DATABASE_NAME names it. Unset, the queue lives in "default" with everything else.
if queue_database := env.str("TASKQUEUE_DATABASE_NAME", ""):
    DATABASES["queue"] = database_settings(BASE_DIR.name, name=queue_database)
    TASKQUEUE_DATABASE = "queue"
    DATABASE_ROUTERS = ["taskqueue.routers.QueueRouter"]

# Django's Tasks API, served by this stage's queue (taskqueue/backend.py).
TASKS = {
    "default": {
        "BACKEND": "taskqueue.backend.PostgresBackend",
        "QUEUES": ["default", "emails"],
    }
}
# "auto": LISTEN/NOTIFY unless DISABLE_SERVER_SIDE_CURSORS says a transaction pooler sits in
# between; "on"; "off" (poll with a backoff). See taskqueue/wakeup.py.
TASKQUEUE_LISTEN = env.str(
    "TASKQUEUE_LISTEN", "auto", validate=lambda v: v in {"auto", "on", "off"}
)
# The tasks `POST /tasks/` may enqueue (taskqueue/enqueue_request.py): by name or import path.
# Not the examples that harm a worker (crash_worker, hold_the_gil, stuck_in_c, burn_cpu, and
# pretend_work, which sleeps as long as it is asked).
TASKQUEUE_HTTP_TASKS = env.list(
    "TASKQUEUE_HTTP_TASKS", ["greet", "noop", "send_welcome_email", "wait_for_api"]
)
# Arguments are stored in the row: keep them small (an id, not a file).
TASKQUEUE_MAX_ARGUMENTS_BYTES = env.int("TASKQUEUE_MAX_ARGUMENTS_BYTES", 64 * 1024)

# How long a worker's own statement may wait for a lock, and run, in seconds: past these the
# server ends it, and the worker gives back what it holds (taskqueue/connections.py).
TASKQUEUE_LOCK_TIMEOUT = env.float("TASKQUEUE_LOCK_TIMEOUT", 5)
TASKQUEUE_STATEMENT_TIMEOUT = env.float("TASKQUEUE_STATEMENT_TIMEOUT", 30)

# Workers delete DONE and CANCELLED tasks older than this (taskqueue/retention.py); 0: never.
TASKQUEUE_KEEP_FINISHED_DAYS = env.float("TASKQUEUE_KEEP_FINISHED_DAYS", 7)
# FAILED and DEAD tasks, which wait for a person, are kept longer; 0: until deleted by hand.
TASKQUEUE_KEEP_FAILED_DAYS = env.float("TASKQUEUE_KEEP_FAILED_DAYS", 30)
# How long a DONE task keeps its idempotency key: the same key within this many hours of its
# end returns it instead of enqueueing again (taskqueue/keys.py). Retention keeps it as long.
TASKQUEUE_KEY_WINDOW_HOURS = env.float("TASKQUEUE_KEY_WINDOW_HOURS", 24)

# Periodic tasks (taskqueue/schedules.py), enqueued by the workers: a "cron" expression (in
# "timezone", UTC by default) or "every" N seconds. TASKQUEUE_SCHEDULES in the environment, as
# JSON, replaces them: '{"hello": {"task": "greet", "every": 5}}'; '{}' turns them off.
TASKQUEUE_SCHEDULES = env.json(
    "TASKQUEUE_SCHEDULES",
    {"hourly-hello": {"task": "greet", "cron": "0 * * * *", "kwargs": {"name": "World"}}},
)

# The worker's events (taskqueue/events.py) go to stdout as they are: one logfmt line each.
LOGGING["loggers"]["taskqueue"] = {"handlers": ["stdout"], "level": "INFO", "propagate": False}  # noqa: F405
# Django logs every task start and finish at INFO; the worker's own events say the same, once.
# Failures (ERROR, with the traceback) still come through.
LOGGING["loggers"]["django.tasks"] = {"level": "WARNING"}  # noqa: F405
