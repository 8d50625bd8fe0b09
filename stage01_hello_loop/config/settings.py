"""Settings: the shared defaults, this stage's app and its own database."""

from pathlib import Path

from workshop.database import database_settings
from workshop.settings import *  # noqa: F403 (shared defaults: secret key, middleware, logging)

BASE_DIR = Path(__file__).resolve().parent.parent

INSTALLED_APPS = ["taskqueue"]

DATABASES = {"default": database_settings(BASE_DIR.name)}
