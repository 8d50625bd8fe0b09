"""The queue in a database of its own (routers.py, TASKQUEUE_DATABASE): the ORM, raw SQL and
transactions all go to that one, and the rest of the project stays where it was. Real
processes, on two fresh databases of the test server."""

import os
import re
import signal

import psycopg
import pytest

from workshop.database import drop_database, server_url

MAIN, QUEUE = "stage05_own_main", "stage05_own_queue"
OWN = {"WORKSHOP_DB_NAME": MAIN, "TASKQUEUE_DATABASE_NAME": QUEUE}


@pytest.fixture
def own_database(manage):
    """Both databases migrated, and dropped after the test."""
    for name in (MAIN, QUEUE):
        drop_database(name)
    for args in (["migrate"], ["migrate", "--database", "queue"]):
        migrate = manage(*args, "-v", "0", env=OWN)
        assert migrate.wait(timeout=120) == 0, migrate.output
    yield lambda *args: manage(*args, env=OWN)
    for name in (MAIN, QUEUE):
        drop_database(name)


def rows(database: str, query: str) -> list[tuple]:
    with psycopg.connect(server_url(database)) as connection:
        return connection.execute(query).fetchall()


def test_the_queue_s_tables_and_tasks_live_in_its_own_database(own_database):
    enqueued = own_database("enqueue", "greet", "--count", "3")
    assert enqueued.wait(timeout=60) == 0, enqueued.output

    worker = own_database("worker", "-v2", "--burst")

    assert worker.wait(timeout=60) == 0, worker.output
    assert rows(QUEUE, "SELECT status FROM taskqueue_task") == [("DONE",)] * 3
    assert rows(MAIN, "SELECT to_regclass('taskqueue_task')") == [(None,)]
    assert rows(MAIN, "SELECT count(*) FROM auth_user") == [(0,)]  # the users stay here


def test_a_dead_worker_s_task_comes_back_in_the_queue_s_own_database(own_database):
    assert own_database("enqueue", "pretend_work", "--kwargs", '{"ms": 60000}').wait(60) == 0
    supervisor = own_database("worker", "-v2", "--poll-interval", "0.05")
    started = supervisor.wait_for(r"event=task.start task=\d+ ").string
    child = int(re.search(r"worker=[^:\s]+:(\d+):", started).group(1))

    os.kill(child, signal.SIGKILL)

    supervisor.wait_for("event=tasks.given_back .*running=")
    # Taken again by the child that replaced it (attempt 2, or 1 when the kill came before
    # the child's report said the task had started: then it never ran, and is not charged).
    replacement = supervisor.wait_for(r"event=supervisor.restarted .*pid=(\d+)").group(1)
    supervisor.wait_for(rf"event=task.start task=\d+ .*worker=[^:\s]+:{replacement}:")
    supervisor.stop(signal.SIGTERM)
