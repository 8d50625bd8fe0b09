"""The index retention reads holds DONE and CANCELLED rows only (models.Task, task_retained).

Built CONCURRENTLY, as an index on a big live queue table must be: a plain CREATE INDEX would
block every enqueue and completion while it reads the table. So not in a transaction."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("taskqueue", "0011_dashboard_pauses_history_failures"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="task",
            index=models.Index(
                condition=models.Q(("status__in", ["DONE", "CANCELLED"])),
                fields=["finished_at"],
                name="task_retained",
            ),
        ),
        RemoveIndexConcurrently(model_name="task", name="task_finished"),
    ]
