"""One clock for the whole queue: the database's.

Leases and retry times are written by one machine and compared by another. With each worker's
own clock, a worker whose clock runs a minute fast would rescue every other worker's tasks a
minute early. So every time the queue compares is computed by PostgreSQL: `now()`, plus an
interval.
"""

from datetime import datetime, timedelta

from django.db.models import DateTimeField, ExpressionWrapper
from django.db.models.functions import Now

from taskqueue import sql
from taskqueue.db import connection


def in_seconds(seconds: float) -> ExpressionWrapper:
    """The database's now() plus `seconds`, for use in a filter or an update."""
    return ExpressionWrapper(Now() + timedelta(seconds=seconds), output_field=DateTimeField())


def now() -> datetime:
    """The database's now(): what the schedules (schedules.py) compare their ticks with."""
    with connection.cursor() as cursor:
        cursor.execute(sql.NOW)
        return cursor.fetchone()[0]
