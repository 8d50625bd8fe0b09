from django.db import migrations, models

# An operator's request to stop a running task (retries.cancel): the supervisor of the worker
# that holds it reads it at each heartbeat and stops the task.


class Migration(migrations.Migration):
    dependencies = [
        ("taskqueue", "0006_worker_processes"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="cancel_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
