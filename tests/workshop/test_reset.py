"""`make reset DB=...` empties a stage's queue tables and restarts their ids, and keeps the
API tokens and everything that is not the queue's."""

import psycopg
import pytest

from workshop.database import server_url
from workshop.reset import main, reset

DATABASE = "workshop_reset_probe"


@pytest.fixture
def stage_database():
    with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    with psycopg.connect(server_url(DATABASE), autocommit=True) as conn:
        for table in ("taskqueue_task", "taskqueue_execution", "taskqueue_apitoken", "auth_user"):
            conn.execute(f"CREATE TABLE {table} (id bigint GENERATED ALWAYS AS IDENTITY, x int)")
            conn.execute(f"INSERT INTO {table} (x) SELECT 1 FROM generate_series(1, 3)")
    yield DATABASE
    with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def count(table: str) -> int:
    with psycopg.connect(server_url(DATABASE)) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_reset_empties_the_queue_tables_only(stage_database):
    assert reset(stage_database) == ["taskqueue_execution", "taskqueue_task"]

    assert count("taskqueue_task") == count("taskqueue_execution") == 0
    assert count("taskqueue_apitoken") == count("auth_user") == 3
    with psycopg.connect(server_url(DATABASE), autocommit=True) as conn:
        inserted = conn.execute("INSERT INTO taskqueue_task (x) VALUES (1) RETURNING id")
        (new_id,) = inserted.fetchone()
    assert new_id == 1  # ids start again


def test_reset_without_a_stage_says_how(capsys):
    assert main([]) == 2
    assert "make reset DB=" in capsys.readouterr().out
