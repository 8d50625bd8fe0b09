"""A Django project in one module, for django-tasks-db: settings, the no-op task, and
`python -m workshop.bench.alternatives.django_project enqueue N`."""

import sys

from django.tasks import task

from workshop.database import database_settings

DATABASES = {"default": database_settings("bench_django_tasks_db")}
INSTALLED_APPS = ["django_tasks_db"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
USE_TZ = True
SECRET_KEY = "benchmark-only"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


@task
def noop():
    return None


if __name__ == "__main__" and sys.argv[1] == "enqueue":
    import django

    django.setup()
    from django.db import transaction

    from workshop.bench.alternatives.django_project import noop as registered

    # Its own API, one enqueue() per task, in one transaction to keep the set-up short.
    with transaction.atomic():
        for _ in range(int(sys.argv[2])):
            registered.enqueue()
