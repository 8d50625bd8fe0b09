"""Enqueue rows: stage 5 one task at a time and in bulk, each beside plain psycopg doing the
same INSERTs (one commit each) or the same COPY, in the same run. Timed inside the child
process, after Django has started."""

from functools import partial

from workshop.bench import Row
from workshop.bench.db import STAGE5_DB, reset
from workshop.bench.run import child, result_of

GROUP = "enqueue"
ONE = "stage 5 enqueue(), one commit each"
ONE_PLAIN = "plain psycopg INSERT, one commit each"
BULK = "stage 5 enqueue_many() (COPY)"
BULK_PLAIN = "plain psycopg COPY"
# (row name, child program, bulk?)
CASES = [
    (ONE, "enqueue-one", False),
    (ONE_PLAIN, "insert-loop", False),
    (BULK, "enqueue-many", True),
    (BULK_PLAIN, "copy", True),
]


def measure(name: str, program: str, count: int) -> list[Row]:
    reset(STAGE5_DB)  # each case starts from an empty table
    seconds = result_of(child(program, count))["seconds"]
    return [Row(GROUP, name, count / seconds, "tasks/s", note=f"{count:,} tasks")]


def steps(sizes) -> list:
    return [
        (name, partial(measure, name, program, sizes.enqueue_bulk if bulk else sizes.enqueue_one))
        for name, program, bulk in CASES
    ]
