"""Settings: the shared defaults, this stage's app and its own database."""

from pathlib import Path

from workshop.database import database_settings
from workshop.settings import *  # noqa: F403 (shared defaults: secret key, middleware, logging)
from workshop.settings import DJANGO_APPS

BASE_DIR = Path(__file__).resolve().parent.parent

INSTALLED_APPS = [*DJANGO_APPS, "taskqueue", "lab"]

DATABASES = {"default": database_settings(BASE_DIR.name)}

# The worker's events (taskqueue/events.py) go to stdout as they are: one logfmt line each.
LOGGING["loggers"]["taskqueue"] = {"handlers": ["stdout"], "level": "INFO", "propagate": False}  # noqa: F405
