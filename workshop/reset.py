"""`make reset DB=stage03_skip_locked` (`python -m workshop.reset STAGE`): empty a stage's queue
tables, so that an exercise starts from a clean table and counts only its own rows.

Every `taskqueue_*` table of the stage's database is truncated and its ids start again at 1,
except the API tokens (stage 5), which the demo and the load test issue once. Users, sessions
and the migrations' record stay.
"""

import sys

import psycopg
from psycopg import sql

from workshop.database import server_url

KEEP = {"taskqueue_apitoken"}


def reset(database: str) -> list[str]:
    """Truncate the queue tables of `database`; return their names."""
    with psycopg.connect(server_url(database), autocommit=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename LIKE 'taskqueue\\_%' ORDER BY 1"
            )
            if name not in KEEP
        ]
        if tables:
            names = sql.SQL(", ").join(map(sql.Identifier, tables))
            conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(names))
    return tables


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].startswith("stage"):
        print("usage: make reset DB=<stage folder>, e.g. make reset DB=stage02_db_queue")
        return 2
    try:
        tables = reset(argv[0])
    except psycopg.OperationalError as error:
        print(f"cannot reach database {argv[0]}: {error}".strip())
        print("(has the stage been migrated? `cd <stage> && python manage.py migrate`)")
        return 1
    print(f"{argv[0]}: emptied {', '.join(tables) or 'nothing (no queue tables yet)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
