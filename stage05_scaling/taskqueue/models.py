"""The queue is a table. One row per task; its status says where the task is in its life.

Stage 5: the row is also a `django.tasks` TaskResult (backend.py): it names its task by import
path, carries positional and keyword arguments, a queue name and a priority, and stores the
return value. The per-attempt Execution table is gone: its history now lives in two small
lists on the row (`worker_ids`, `errors`), so a task that succeeds costs one row, written three
times (enqueue, claim, done), not two rows and five writes.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models.functions import Now
from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY
from django.utils import timezone


class Task(models.Model):
    class Status(models.TextChoices):
        QUEUED = "QUEUED"
        IN_PROGRESS = "IN_PROGRESS"
        DONE = "DONE"
        FAILED = "FAILED"  # an error the task does not retry: given up at once
        DEAD = "DEAD"  # a retryable error, but every attempt was used
        CANCELLED = "CANCELLED"  # taken off the queue by an operator before it ran

    FINISHED = [Status.DONE, Status.FAILED, Status.DEAD, Status.CANCELLED]

    name = models.CharField(max_length=300, help_text="import path of a registered @task")
    queue_name = models.CharField(max_length=100, default="default")
    # Higher runs first, as in django.tasks: -100 to 100.
    priority = models.SmallIntegerField(default=0)
    args = models.JSONField(default=list, blank=True, help_text="positional arguments, as JSON")
    kwargs = models.JSONField(default=dict, blank=True, help_text="keyword arguments, as JSON")
    status = models.CharField(max_length=20, choices=Status, default=Status.QUEUED)
    # Database defaults, so that a bulk COPY (enqueue.py) needs to send none of these.
    created_at = models.DateTimeField(db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True, help_text="start of the last attempt")
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True, help_text="who claimed it last")
    worker_ids = models.JSONField(default=list, blank=True, help_text="who ran each attempt")
    error = models.TextField(blank=True, help_text="the last error, in one line")
    errors = models.JSONField(default=list, blank=True, help_text="every error, with traceback")
    result = models.JSONField(null=True, blank=True, help_text="the return value, as JSON")
    # Retries: the claim skips a task until run_after; each claim counts an attempt.
    run_after = models.DateTimeField(db_default=Now())
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=5)
    # Set by an operator to stop the task while it runs (retries.cancel): its worker's
    # supervisor sees it at the next heartbeat and ends the task (supervisor.py).
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # Enqueueing the same key twice (same owner, same task) returns the first task while it
    # holds its key (keys.py). NULL, not "", for "no key": the partial UNIQUE index covers
    # only the rows that have one.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # Who enqueued it over HTTP (views.py): only they, and staff, may read its status.
    # No foreign key constraint, and nothing done by Django when a user is deleted: the users
    # may live in another database than the queue (routers.py). keys.forget_owner does it.
    enqueued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
    )

    class Meta:
        indexes = [
            # Only QUEUED rows, in claim order: per queue, highest priority, due first, oldest.
            models.Index(
                "queue_name",
                models.F("priority").desc(),
                "run_after",
                "id",
                condition=models.Q(status="QUEUED"),
                name="task_claimable",
            ),
            # Which tasks does a worker hold? (a supervisor giving back a dead child's tasks,
            # the rescuer looking for tasks of workers that are gone)
            models.Index(
                fields=["worker"],
                condition=models.Q(status="IN_PROGRESS"),
                name="task_running",
            ),
            # What retention prunes, by finish time: DONE and CANCELLED rows only, so that a
            # month of kept failures is never in the way (pruning, its lag, the finished rate).
            models.Index(
                fields=["finished_at"],
                condition=models.Q(status__in=["DONE", "CANCELLED"]),
                name="task_retained",
            ),
            # The dashboard's latest failures, without reading the finished rows that are fine.
            models.Index(
                fields=["-finished_at"],
                condition=models.Q(status__in=["FAILED", "DEAD"]),
                name="task_failures",
            ),
        ]
        constraints = [
            # A key is its owner's, for one task: the same key from someone else, or for
            # another task, is another task. NULLS NOT DISTINCT: code's tasks (no owner) share
            # one space of keys instead of never matching.
            models.UniqueConstraint(
                fields=["enqueued_by", "name", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                nulls_distinct=False,
                name="task_idempotency_key",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    priority__gte=TASK_MIN_PRIORITY, priority__lte=TASK_MAX_PRIORITY
                ),
                name="task_priority_range",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.name} ({self.status})"


class QueueLevel(models.Model):
    """A queue and a priority that has had a task: the claim reads the queue one level at a
    time, each from its head (QueueHead). Written once, by the trigger that sees a level's
    first task (sql.NOTIFY_TRIGGER), and never changed."""

    pk = models.CompositePrimaryKey("queue_name", "priority")
    queue_name = models.CharField(max_length=100)
    priority = models.SmallIntegerField()

    def __str__(self):
        return f"{self.queue_name} at priority {self.priority}"


class QueueHead(models.Model):
    """A mark in a level's log of heads (sql.HEADS): the head moved to (`run_after`, `task_id`)
    (`moved`), or a task came in there, before the head. A level's head is the earliest of its
    newest move and the marks after it; taskqueue_advance() writes the moves and deletes the
    marks they make useless."""

    id = models.BigAutoField(primary_key=True)
    queue_name = models.CharField(max_length=100)
    priority = models.SmallIntegerField()
    run_after = models.DateTimeField()
    task_id = models.BigIntegerField(help_text="ties at run_after: by id, as the claim")
    moved = models.BooleanField()

    class Meta:
        indexes = [
            # The newest move of a level, read backwards from the end: never a deleted mark.
            models.Index(
                fields=["queue_name", "priority", "id"],
                condition=models.Q(moved=True),
                name="queuehead_moved",
            ),
            # The marks of a level from its newest move on.
            models.Index(fields=["queue_name", "priority", "id"], name="queuehead_marks"),
        ]

    def __str__(self):
        what = "moved" if self.moved else "came in"
        return f"{self.queue_name}/{self.priority}: {what} at {self.run_after}, #{self.task_id}"


class PausedQueue(models.Model):
    """A queue that workers do not claim from while its row exists (pause.py). Tasks can still
    be enqueued to it; running ones finish. Delete the row, or `manage.py queues resume`, to
    resume it."""

    name = models.CharField(primary_key=True, max_length=100)
    paused_at = models.DateTimeField(db_default=Now())
    paused_by = models.CharField(max_length=150, blank=True, help_text="who paused it")

    def __str__(self):
        return self.name


class MinuteStats(models.Model):
    """A minute of the queue's history, counted once after it ended (rollup.py)."""

    minute = models.DateTimeField(primary_key=True)
    finished = models.IntegerField(help_text="tasks that ended DONE in this minute")
    failed = models.IntegerField(help_text="tasks that ended FAILED or DEAD")
    p50_ms = models.FloatField(null=True, help_text="median wait from due to start")
    p95_ms = models.FloatField(null=True)

    class Meta:
        verbose_name_plural = "minute stats"

    def __str__(self):
        return f"{self.minute:%Y-%m-%d %H:%M}: {self.finished} finished"


class WorkerProcess(models.Model):
    """One row per worker process, alive or recently gone: who is working, on what, and
    whether it is still alive (heartbeat.py).

    A worker process writes its row when it starts; its supervisor (supervisor.py), a separate
    process that no task can starve, refreshes it every half second. A row whose `expires_at`
    has passed belongs to a process nobody vouches for any more: a machine gone, a supervisor
    killed with its children. The rescuer (rescuer.py) then gives back what it held."""

    id = models.CharField(primary_key=True, max_length=100, help_text="as in Task.worker")
    hostname = models.CharField(max_length=200)
    pid = models.IntegerField()
    supervisor_pid = models.IntegerField(null=True, blank=True, help_text="none: unsupervised")
    queues = models.JSONField(default=list)
    started_at = models.DateTimeField(db_default=Now())
    heartbeat_at = models.DateTimeField(db_default=Now())
    expires_at = models.DateTimeField(help_text="past this, with no heartbeat, it counts as gone")
    task_id = models.BigIntegerField(null=True, blank=True, help_text="the task it runs now")
    task_started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    exit = models.CharField(max_length=100, blank=True, help_text="how it ended")
    # Idle, and listening: an enqueue then sends NOTIFY to wake it (wakeup.py). False while it
    # works, so that a busy queue's enqueues send none: PostgreSQL serialises the commits of
    # the transactions that notify.
    waiting = models.BooleanField(db_default=False)

    class Meta:
        indexes = [
            models.Index(fields=["id"], condition=models.Q(waiting=True), name="worker_waiting")
        ]

    def __str__(self):
        return self.id


class SentEmail(models.Model):
    """The side effect of the example task `send_welcome_email`, made idempotent by a UNIQUE
    key: running the task twice records one e-mail, not two."""

    key = models.CharField(max_length=200, unique=True)
    to = models.CharField(max_length=200)
    sent_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.key} to {self.to}"


class ApiToken(models.Model):
    """A secret that lets a script call the HTTP API as a user (api.py). Only its SHA-256 is
    stored: a copy of the database does not hand out working tokens.

    Found by its digest through a unique index, so the lookup needs no constant-time compare:
    a timing difference could at most tell an attacker how much of a *digest* matched, and
    they cannot choose digests, only tokens, whose digests they cannot steer."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="what it is for")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="none: never")
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="to the minute")

    def __str__(self):
        return f"{self.name} ({self.user})"

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user, name: str, expires_in: timedelta | None = None) -> str:
        """Create a token and return it: the only time it is ever seen in full."""
        token = secrets.token_urlsafe(32)
        expires_at = timezone.now() + expires_in if expires_in else None
        cls.objects.create(user=user, name=name, digest=cls.hash(token), expires_at=expires_at)
        return token

    @classmethod
    def issue_to_service(cls, username: str) -> str:
        """A token for a service account (the demo, the load test), created if need be without
        a password: it can only use its tokens."""
        user, _ = get_user_model().objects.get_or_create(username=username)
        return cls.issue(user, username)

    @classmethod
    def user_for(cls, token: str):
        """The active user behind a token that has not expired, or None."""
        found = (
            cls.objects.select_related("user")
            .filter(digest=cls.hash(token), user__is_active=True)
            .filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=Now()))
            .first()
        )
        if found is None:
            return None
        # At most one write a minute per token, not one per request.
        if found.last_used_at is None or timezone.now() - found.last_used_at > timedelta(minutes=1):
            cls.objects.filter(pk=found.pk).update(last_used_at=Now())
        return found.user


class ScheduledTick(models.Model):
    """One row per tick of a schedule (schedules.py) that a worker has handled. The UNIQUE key
    on (schedule, tick) is what lets exactly one worker enqueue a tick, however many look.

    The rows outlive the tasks: retention deletes old tasks, and a tick whose task is gone must
    still count as done. So `task_id` is a plain number, not a foreign key."""

    schedule = models.CharField(max_length=100, help_text="its name in TASKQUEUE_SCHEDULES")
    tick = models.DateTimeField(help_text="the instant the schedule named")
    task_id = models.BigIntegerField(null=True, blank=True, help_text="the task enqueued for it")
    skipped = models.CharField(max_length=100, blank=True, help_text="why no task, if none")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schedule", "tick"], name="scheduledtick_once"),
        ]

    def __str__(self):
        return f"{self.schedule} at {self.tick:%Y-%m-%d %H:%M:%S %Z}"
