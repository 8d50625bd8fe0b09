from django.apps import AppConfig


class TaskQueueConfig(AppConfig):
    name = "taskqueue"

    def ready(self):
        # Importing the task functions registers them: the worker runs only what is registered.
        from taskqueue import tasks  # noqa: F401
