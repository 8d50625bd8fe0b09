"""The embedded PostgreSQL: started on first use by whichever process comes first, never twice,
reachable however deep the checkout lies, and still running after its starter exits."""

import os
import subprocess
import sys

import psycopg
import pytest

from workshop import embedded

START = "from workshop import embedded; print(embedded.ensure_running().url())"


@pytest.fixture
def deep_pgdata(tmp_path):
    # Deeper than a Unix socket path may be (~100 characters), like a CI clone can be.
    pgdata = tmp_path / ("d" * 60) / ("e" * 60) / "pgdata"
    pgdata.parent.mkdir(parents=True)
    yield pgdata
    embedded.stop(pgdata)


def test_processes_starting_at_once_share_one_server_that_outlives_them(deep_pgdata):
    env = {"WORKSHOP_PGDATA": str(deep_pgdata)}
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", START],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [starter.communicate(timeout=120) for starter in starters]

    assert [starter.returncode for starter in starters] == [0, 0, 0], outputs
    urls = {stdout.strip() for stdout, _ in outputs}
    assert len(urls) == 1  # one server, whoever started it

    # Every starter has exited; the server must still answer.
    server = embedded.running(deep_pgdata)
    assert server is not None
    assert len(f"{server.socket_dir}/.s.PGSQL.{server.port}") < 100
    with psycopg.connect(urls.pop()) as conn:
        assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("18")


def test_stop_stops_it(deep_pgdata):
    embedded.ensure_running(deep_pgdata)

    assert embedded.stop(deep_pgdata) is True
    assert embedded.running(deep_pgdata) is None
    assert embedded.stop(deep_pgdata) is False


def test_psql_opens_on_the_database_in_use():
    result = subprocess.run(
        [sys.executable, "-m", "workshop.database", "psql"],
        input="SELECT 'psql works';\n",
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "psql works" in result.stdout
