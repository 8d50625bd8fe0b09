"""The queue's database, and the hot statements' way to it: the claim, the completion, an
enqueue.

The queue may live in a database of its own (TASKQUEUE_DATABASE names its alias, and
routers.QueueRouter sends the queue's models there). Every path to the queue goes to that one
alias: the ORM by the router, raw SQL through `connection` below, transactions through
`atomic()`. A raw statement on Django's default connection while the ORM followed the router
would split the queue across two databases.
"""

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils.connection import ConnectionProxy

ALIAS = getattr(settings, "TASKQUEUE_DATABASE", DEFAULT_DB_ALIAS)
connection = ConnectionProxy(connections, ALIAS)  # this thread's connection to the queue

# Django turns psycopg's prepared statements off (prepare_threshold None), for the sake of
# transaction poolers. Our hot statements ask for theirs (prepare=True), and with a threshold
# this high nothing else is ever prepared on their connection.
ONLY_WHEN_ASKED = 2**31 - 1


def atomic():
    """A transaction on the queue's database."""
    return transaction.atomic(using=ALIAS)


def run(sql: str, params) -> list[tuple]:
    """Run one of the hot statements (the claim, the completion, an enqueue) on the psycopg
    connection under Django's, with a cursor of psycopg's own: Django's binds parameters into
    the SQL text on the client, this one sends them apart, and the statement is prepared once
    per connection and then only executed (not behind a transaction pooler, which Django's
    DISABLE_SERVER_SIDE_CURSORS says is there: its server connections change under us).
    Errors are Django's, as from any query."""
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None and not connection.settings_dict.get(
        "DISABLE_SERVER_SIDE_CURSORS"
    ):
        raw.prepare_threshold = ONLY_WHEN_ASKED
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(lists_in_binary(sql, params), params, prepare=True)
        return cursor.fetchall()


_binary: dict[tuple[str, tuple[str, ...]], str] = {}


def lists_in_binary(sql: str, params) -> str:
    """`sql` with its list parameters sent in PostgreSQL's binary format (psycopg's `%(name)b`):
    a batch's ids, attempts and results are arrays of a hundred, and their text format costs
    the client a quoting check per element, three times the binary's CPU."""
    if not isinstance(params, dict):
        return sql
    lists = tuple(name for name, value in params.items() if isinstance(value, list))
    key = (sql, lists)
    if key not in _binary:
        for name in lists:
            sql = sql.replace(f"%({name})s", f"%({name})b")
        _binary[key] = sql
    return _binary[key]
