from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.db.models.signals import pre_delete
from django.utils.module_loading import autodiscover_modules


class TaskQueueConfig(AppConfig):
    name = "taskqueue"

    def ready(self):
        # Importing every installed app's `tasks` module registers its @task functions: the
        # worker runs only what is registered (registry.py).
        autodiscover_modules("tasks")
        from taskqueue.keys import forget_owner
        from taskqueue.routers import check_queue_database
        from taskqueue.schedules import check_schedules

        # A wrong schedule stops `manage.py worker` before it starts, saying what is wrong.
        checks.register(check_schedules)
        checks.register(check_queue_database)
        pre_delete.connect(forget_owner, sender=settings.AUTH_USER_MODEL)
