"""`taskqueue/` is the queue you would copy into a project: it imports Django, psycopg and the
libraries its requirements.txt lists, and nothing from the workshop (`workshop`, `lab`, `config`).

A fresh interpreter imports every module of the app with those three hidden, and lists the
third-party packages that got imported."""

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import taskqueue

STAGE = Path(taskqueue.__file__).resolve().parent.parent  # the stage's folder, wherever it is

PROBE = """
import importlib, importlib.abc, pkgutil, sys

class Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {"workshop", "lab", "config"}:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by this test)")

sys.meta_path.insert(0, Hidden())

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=[
        "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
        "django.contrib.sessions", "django.contrib.messages", "taskqueue",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "unused"}},
    TASKS={"default": {"BACKEND": "taskqueue.backend.PostgresBackend",
                       "QUEUES": ["default", "emails"]}},
)
django.setup()
import taskqueue

for module in pkgutil.walk_packages(taskqueue.__path__, "taskqueue."):
    importlib.import_module(module.name)
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def listed_distributions() -> set[str]:
    """The app's requirements.txt, with what each of those requires in turn (and what the extras
    a line asks for require, as psycopg[binary,pool])."""
    lines = (STAGE / "taskqueue" / "requirements.txt").read_text().splitlines()
    todo = [Requirement(line) for line in lines if line[:1].isalpha()]
    found = set()
    while todo:
        requirement = todo.pop()
        if canonicalize_name(requirement.name) in found:
            continue
        found.add(canonicalize_name(requirement.name))
        extras = requirement.extras or {""}
        for text in importlib.metadata.requires(requirement.name) or ():
            dependency = Requirement(text)
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras):
                todo.append(dependency)
    return found


def imported_top_level_names() -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=STAGE, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_the_app_imports_only_django_psycopg_and_its_listed_libraries():
    allowed = listed_distributions()
    owners = importlib.metadata.packages_distributions()
    third_party = {
        name
        for name in imported_top_level_names() - set(sys.stdlib_module_names)
        if not name.startswith("_") and name not in {"taskqueue", "cython_runtime"}
    }

    unlisted = {
        name
        for name in third_party
        if not {canonicalize_name(dist) for dist in owners.get(name, [name])} & allowed
    }

    assert "django" in third_party and "psycopg" in third_party  # the probe did import the app
    assert unlisted == set()
