"""PgQueuer for the benchmark: `python -m workshop.bench.alternatives.pgqueuer_app
install|enqueue N|work`. `work` runs one consumer with its defaults (batch 10) until the queue
is empty (its `drain` mode)."""

import asyncio
import sys

import psycopg
from pgqueuer import PgQueuer
from pgqueuer.db import PsycopgDriver
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

from workshop.database import server_url

DATABASE = "bench_pgqueuer"


async def main(what: str, *args: str) -> None:
    conn = await psycopg.AsyncConnection.connect(server_url(DATABASE), autocommit=True)
    driver = PsycopgDriver(conn)
    if what == "install":
        await Queries(driver).install()
    elif what == "enqueue":
        count = int(args[0])
        await Queries(driver).enqueue(["noop"] * count, [None] * count, [0] * count)
    else:
        pgq = PgQueuer(driver)

        @pgq.entrypoint("noop")
        async def noop(job) -> None:
            return None

        await pgq.run(mode=QueueExecutionMode.drain)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
