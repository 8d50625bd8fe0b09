"""workshop.database: DATABASE_URL or the embedded server, and one database per stage, created
on first connection."""

import subprocess
import sys
import uuid

import psycopg

from workshop import REPO_ROOT
from workshop.database import database_settings, drop_database, server_url


def test_database_url_gives_the_server_and_the_stage_names_the_database(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://alice:secret@db.example:6543/maintenance")
    monkeypatch.delenv("WORKSHOP_DB_NAME", raising=False)

    config = database_settings("stage02_db_queue")

    assert config["NAME"] == "stage02_db_queue"
    assert config["SERVER_DB"] == "maintenance"
    assert (config["USER"], config["PASSWORD"]) == ("alice", "secret")
    assert (config["HOST"], config["PORT"]) == ("db.example", 6543)
    assert "EMBEDDED" not in config


def test_without_database_url_the_embedded_server_is_used(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("WORKSHOP_DB_NAME", raising=False)

    config = database_settings("stage01_hello_loop")

    assert config["EMBEDDED"] is True
    assert config["NAME"] == "stage01_hello_loop"


def test_workshop_db_name_overrides_the_database(monkeypatch):
    monkeypatch.setenv("WORKSHOP_DB_NAME", "test_stage02_db_queue")

    assert database_settings("stage02_db_queue")["NAME"] == "test_stage02_db_queue"


def test_a_stage_database_is_created_on_first_connection(monkeypatch):
    name = f"workshop_autocreate_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("WORKSHOP_DB_NAME", name)
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate"],
            cwd=REPO_ROOT / "stage01_hello_loop",
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr

        with psycopg.connect(server_url(name)) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == name
    finally:
        drop_database(name)


def test_migrate_refuses_a_database_an_older_version_of_the_stage_migrated(monkeypatch):
    """Stage 5's steps renamed migrations: a database that applied one that is gone gets a clear
    error, not a DuplicateColumn half-way through migrate."""
    name = f"workshop_stale_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("WORKSHOP_DB_NAME", name)
    stage = REPO_ROOT / "stage02_db_queue"
    migrate = [sys.executable, "manage.py", "migrate"]
    try:
        assert subprocess.run(migrate, cwd=stage, capture_output=True).returncode == 0
        with psycopg.connect(server_url(name), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO django_migrations (app, name, applied)"
                " VALUES ('taskqueue', '0099_renamed_since', now())"
            )

        result = subprocess.run(migrate, cwd=stage, capture_output=True, text=True)

        assert result.returncode != 0
        assert "(workshop.E001)" in result.stderr
        assert "it applied taskqueue.0099_renamed_since, which no longer exists" in result.stderr
        assert f"DROP DATABASE {name};" in result.stderr
    finally:
        drop_database(name)
