"""What the worker-process tests read back from a task's row."""

from taskqueue.models import Task


def outcomes(task) -> list[str]:
    """How each attempt ended: the error it left on the row, and the final status last."""
    task.refresh_from_db()
    errors = [error["exception_class_path"].rsplit(".", 1)[-1] for error in task.errors]
    return [*errors, task.status]


def status(task) -> str:
    return Task.objects.get(pk=task.pk).status
