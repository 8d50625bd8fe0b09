"""docker-compose.yml cannot be run here (no Docker engine), so check what can be checked: it
follows the Compose specification, and every command it runs exists in the repository."""

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


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_the_command_exists_in_the_repository(service):
    spec = APP_SERVICES[service]
    stage_dir = REPO_ROOT / spec["working_dir"].removeprefix("/app/")
    program, script, command, *_ = spec["command"]
    assert (program, script) == ("python", "manage.py")
    assert (stage_dir / "manage.py").is_file()
    # `manage.py help COMMAND` fails for a command the stage does not have.
    result = subprocess.run(
        [sys.executable, "manage.py", "help", command], cwd=stage_dir, capture_output=True
    )
    assert result.returncode == 0, result.stderr.decode()
