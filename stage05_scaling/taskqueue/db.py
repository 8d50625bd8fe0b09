"""The hot statements' way to the database: the claim, the completion, an enqueue."""

import psycopg
from django.db import connection


def run(sql: str, params) -> list[tuple]:
    """Run one of the hot statements (the claim, the completion, an enqueue) on the psycopg
    connection under Django's, with a cursor of psycopg's own: Django's binds parameters into
    the SQL text on the client, this one sends them apart, and the statement is prepared once
    and then only executed. Errors are Django's, as from any query."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()
