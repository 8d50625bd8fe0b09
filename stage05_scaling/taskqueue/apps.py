from django.apps import AppConfig
from django.core import checks
from django.utils.module_loading import autodiscover_modules


class TaskQueueConfig(AppConfig):
    name = "taskqueue"

    def ready(self):
        # Importing every installed app's `tasks` module registers its @task functions: the
        # worker runs only what is registered (registry.py).
        autodiscover_modules("tasks")
        from taskqueue.schedules import check_schedules

        # A wrong schedule stops `manage.py worker` before it starts, saying what is wrong.
        checks.register(check_schedules)
