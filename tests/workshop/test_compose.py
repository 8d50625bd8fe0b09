"""docker-compose.yml cannot be run here (no Docker engine), so check what can be checked: it
follows the Compose specification, and every command it runs exists in the repository."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workshop import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SERVICES = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
APP_SERVICES = {name: spec for name, spec in SERVICES.items() if "working_dir" in spec}


def test_the_file_follows_the_compose_specification():
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", COMPOSE_FILE],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_is_a_service_for_each_stage():
    stages = sorted(path.name for path in REPO_ROOT.glob("stage*_*") if path.is_dir())
    served = {spec["working_dir"].removeprefix("/app/") for spec in APP_SERVICES.values()}
    assert set(stages) <= served


MANAGE_PY = {name: spec for name, spec in APP_SERVICES.items() if spec["command"][1] == "manage.py"}
MODULES = {name: spec for name, spec in APP_SERVICES.items() if spec["command"][1] == "-m"}


def test_every_command_is_a_manage_py_command_or_a_python_module():
    assert MANAGE_PY.keys() | MODULES.keys() == APP_SERVICES.keys()
    assert {spec["command"][0] for spec in APP_SERVICES.values()} == {"python"}


@pytest.mark.parametrize("service", sorted(MODULES))
def test_the_module_is_installed_and_the_files_it_names_exist(service):
    spec = MODULES[service]
    stage_dir = REPO_ROOT / spec["working_dir"].removeprefix("/app/")
    _python, _m, module, *args = spec["command"]
    assert importlib.util.find_spec(module) is not None, f"{module} is not installed"
    for arg in args:
        if arg.endswith(".py"):  # locust -f locustfile.py
            assert (stage_dir / arg).is_file()
        if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", arg):  # config.wsgi:application
            path = arg.split(":")[0].replace(".", "/") + ".py"
            assert (stage_dir / path).is_file()


@pytest.mark.parametrize("service", sorted(MANAGE_PY))
def test_the_command_exists_in_the_repository(service):
    spec = MANAGE_PY[service]
    stage_dir = REPO_ROOT / spec["working_dir"].removeprefix("/app/")
    program, script, command, *_ = spec["command"]
    assert (program, script) == ("python", "manage.py")
    assert (stage_dir / "manage.py").is_file()
    # `manage.py help COMMAND` fails for a command the stage does not have.
    result = subprocess.run(
        [sys.executable, "manage.py", "help", command], cwd=stage_dir, capture_output=True
    )
    assert result.returncode == 0, result.stderr.decode()


def resolved(environment: dict) -> dict:
    """Compose's `${NAME:-default}` as it comes out with NAME unset."""
    default = re.compile(r"\$\{\w+:-([^}]*)\}")
    return {key: default.sub(r"\1", str(value)) for key, value in environment.items()}


@pytest.mark.parametrize("service", ["stage05-web", "stage05-worker"])
def test_stage05_runs_with_production_settings_that_pass_check_deploy(service):
    environment = resolved(SERVICES[service]["environment"])
    assert "DEBUG" not in environment  # off: the default
    leave_out = {"DEBUG", "SECRET_KEY", "HTTPS", "ALLOWED_HOSTS", "DATABASE_URL"}
    base = {key: value for key, value in os.environ.items() if key not in leave_out}

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT / "stage05_scaling",
        env={**base, **environment},
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
