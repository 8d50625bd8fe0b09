"""The queue is a table. One row per task; its status says where the task is in its life."""

from django.db import models
from django.db.models.functions import Now


class Task(models.Model):
    class Status(models.TextChoices):
        QUEUED = "QUEUED"
        IN_PROGRESS = "IN_PROGRESS"
        DONE = "DONE"
        FAILED = "FAILED"  # an error the task does not retry: given up at once
        DEAD = "DEAD"  # a retryable error, but every attempt was used

    name = models.CharField(max_length=200, help_text="a function in the task registry")
    kwargs = models.JSONField(default=dict, blank=True, help_text="keyword arguments, as JSON")
    status = models.CharField(max_length=20, choices=Status, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True, help_text="who claimed it last")
    error = models.TextField(blank=True)
    # Retries: the claim skips a task until run_after; each claim counts an attempt.
    run_after = models.DateTimeField(db_default=Now())
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=5)
    # Crash recovery: the worker renews this while it holds the task; once it has passed, the
    # worker is presumed dead and the task is rescued.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Enqueueing the same key twice returns the first task (see enqueue.py). NULL, not "", for
    # "no key": the partial UNIQUE index covers only the rows that have one.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001

    class Meta:
        indexes = [
            # Only QUEUED rows, in claim order: due first, then oldest.
            models.Index(
                fields=["run_after", "id"],
                condition=models.Q(status="QUEUED"),
                name="task_claimable",
            ),
            # The rescuer's question: whose lease has run out?
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status="IN_PROGRESS"),
                name="task_leased",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="task_idempotency_key",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.name} ({self.status})"


class Execution(models.Model):
    """One row per attempt: who ran it, when, and how it ended."""

    class Outcome(models.TextChoices):
        DONE = "DONE"
        RETRY = "RETRY"  # failed, will be retried
        FAILED = "FAILED"  # failed, not retryable
        DEAD = "DEAD"  # failed, no attempts left
        INTERRUPTED = "INTERRUPTED"  # the worker was stopped mid-task; the task was released
        LOST = "LOST"  # the worker died mid-task; the rescuer found its lease expired

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="executions")
    attempt = models.PositiveIntegerField(default=1)
    worker = models.CharField(max_length=100)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome, blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)

    class Meta:
        # At least once, now: a task may run more than once, but each attempt only once.
        constraints = [
            models.UniqueConstraint(fields=["task", "attempt"], name="execution_once_per_attempt")
        ]

    def __str__(self):
        return f"task #{self.task_id} attempt {self.attempt} by {self.worker}"


class SentEmail(models.Model):
    """The side effect of the example task `send_welcome_email`, made idempotent by a UNIQUE
    key: running the task twice records one e-mail, not two."""

    key = models.CharField(max_length=200, unique=True)
    to = models.CharField(max_length=200)
    sent_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.key} to {self.to}"
