"""The queue is a table. One row per task; its status says where the task is in its life."""

from django.db import models


class Task(models.Model):
    class Status(models.TextChoices):
        QUEUED = "QUEUED"
        IN_PROGRESS = "IN_PROGRESS"
        DONE = "DONE"
        FAILED = "FAILED"

    name = models.CharField(max_length=200, help_text="a function in the task registry")
    kwargs = models.JSONField(default=dict, blank=True, help_text="keyword arguments, as JSON")
    status = models.CharField(max_length=20, choices=Status, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True, help_text="who claimed it last")
    error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # Only QUEUED rows, in claim order: the claim reads the first few entries and stops,
            # however many finished rows the table holds. Finished rows leave the index.
            models.Index(fields=["id"], condition=models.Q(status="QUEUED"), name="task_claimable"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.name} ({self.status})"


class Execution(models.Model):
    """One row each time a worker starts running a task: the evidence for "ran twice"."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="executions")
    worker = models.CharField(max_length=100)
    started_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The promise of this stage, kept by the database: a second run of a task cannot be
        # recorded, it fails loudly instead.
        constraints = [models.UniqueConstraint(fields=["task"], name="execution_once_per_task")]

    def __str__(self):
        return f"task #{self.task_id} by {self.worker}"
