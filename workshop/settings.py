"""Settings every stage shares. A stage's `config/settings.py` star-imports this module, then adds
its apps and its database (`workshop.database.database_settings`).

Secrets and switches come from the environment (12-factor), read with `environs`.
"""

import secrets

from django.core.exceptions import ImproperlyConfigured
from environs import Env

from workshop import REPO_ROOT

env = Env()

# Off unless asked for: a debug page shows settings, URL patterns and local variables to
# whoever triggers an error. `DEBUG=true` in your shell while you develop.
DEBUG = env.bool("DEBUG", False)


def local_secret_key() -> str:
    """A strong key made up once for this checkout and kept in .secret_key (git-ignored), so
    that a fresh clone runs with nothing set and sessions survive a restart. A deployment sets
    SECRET_KEY: several containers must share one key, and a container's files do not last."""
    path = REPO_ROOT / ".secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def strong(key: str) -> bool:
    """What `check --deploy` asks of a key (security.W009)."""
    return len(key) >= 50 and len(set(key)) >= 5 and not key.startswith("django-insecure")


SECRET_KEY = env.str("SECRET_KEY", "") or local_secret_key()
if not DEBUG and not strong(SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for DEBUG off: at least 50 characters, 5 different ones, and"
        " not Django's 'django-insecure-' kind. Make one with: python -c \"import secrets;"
        ' print(secrets.token_urlsafe(50))"'
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

# Behind TLS (a proxy that terminates it and says so in X-Forwarded-Proto): `HTTPS=true` turns
# on what `manage.py check --deploy` asks for. Off by default, so that runserver on
# http://127.0.0.1:8000 works as it is.
HTTPS = env.bool("HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # A load balancer's health check and Prometheus come from inside, over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics/$"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", True)

# The apps behind the admin; stages that have models add them with their own app.
DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's, the dashboard's) from the app itself, with DEBUG off too.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
STATIC_URL = "static/"
# Found where each app keeps them: no `collectstatic` step to forget (WhiteNoise).
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # for messages that carry their own structure (a stage's logfmt events)
        "message": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "message",
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "WARNING")},
    "loggers": {},
}
