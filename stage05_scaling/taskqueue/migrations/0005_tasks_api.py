from django.db import migrations, models

# The row becomes Django's TaskResult (backend.py): positional arguments, a queue, a priority
# (-100 to 100, higher first, as django.tasks defines it), the return value, and the task named
# by its import path. The claim's index follows the new order: per queue, by priority.


class Migration(migrations.Migration):
    dependencies = [
        ("taskqueue", "0004_one_row_per_task"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="task",
            name="task_claimable",
        ),
        migrations.AddField(
            model_name="task",
            name="args",
            field=models.JSONField(
                blank=True, default=list, help_text="positional arguments, as JSON"
            ),
        ),
        migrations.AddField(
            model_name="task",
            name="priority",
            field=models.SmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="task",
            name="queue_name",
            field=models.CharField(default="default", max_length=100),
        ),
        migrations.AddField(
            model_name="task",
            name="result",
            field=models.JSONField(blank=True, help_text="the return value, as JSON", null=True),
        ),
        migrations.AlterField(
            model_name="task",
            name="name",
            field=models.CharField(help_text="import path of a registered @task", max_length=300),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                models.F("queue_name"),
                models.OrderBy(models.F("priority"), descending=True),
                models.F("run_after"),
                models.F("id"),
                condition=models.Q(("status", "QUEUED")),
                name="task_claimable",
            ),
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(("priority__gte", -100), ("priority__lte", 100)),
                name="task_priority_range",
            ),
        ),
    ]
