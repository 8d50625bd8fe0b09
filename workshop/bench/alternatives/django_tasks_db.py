"""django-tasks-db: the database backend of Django's Tasks API. `db_worker` processes, its
defaults (one task per transaction), Django's `@task` for the no-op."""

from workshop.bench.alternatives.common import (
    WORKERS,
    create_database,
    drain_behind_gate,
    holds,
    python,
    row,
    run_to_end,
)
from workshop.bench.db import connect

NAME = "django-tasks-db, 2 db_worker processes"
DATABASE = "bench_django_tasks_db"
ENV = {"DJANGO_SETTINGS_MODULE": "workshop.bench.alternatives.django_project"}
TABLE = "django_tasks_database_dbtaskresult"


def measure(count: int):
    create_database(DATABASE)
    run_to_end(python("django", "migrate", "-v0", env=ENV))
    table = find_table()
    with connect(DATABASE) as conn:
        conn.execute(f"TRUNCATE {table}")
    run_to_end(python("workshop.bench.alternatives.django_project", "enqueue", str(count), env=ENV))

    def start():
        args = ["django", "db_worker", "--batch", "--no-reload", "--no-startup-delay"]
        return [python(*args, "-v0", env=ENV) for _ in range(WORKERS)]

    succeeded = f"SELECT count(*) FROM {table} WHERE status = 'SUCCESSFUL'"
    drained = holds(DATABASE, f"SELECT ({succeeded}) >= %s", count)

    rate = drain_behind_gate(DATABASE, table, start, count, drained)
    return row(NAME, rate, f"{count:,} tasks")


def find_table() -> str:
    with connect(DATABASE) as conn:
        (name,) = conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'django_tasks%%result'"
        ).fetchone()
    return name
