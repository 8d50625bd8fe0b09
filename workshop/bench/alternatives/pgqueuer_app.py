"""PgQueuer for the benchmark: `python -m workshop.bench.alternatives.pgqueuer_app
install|enqueue N|work [DRIVER BATCH]`. `work` runs one consumer until the queue is empty (its
`drain` mode): with its defaults (psycopg, batch 10), or with `asyncpg 100`, its fastest
driver and stage 5's batch."""

import asyncio
import sys

import psycopg
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver, PsycopgDriver
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

from workshop.database import server_url

DATABASE = "bench_pgqueuer"


async def main(what: str, *args: str) -> None:
    if what == "work" and args and args[0] == "asyncpg":
        import asyncpg  # the `bench` extra

        driver = AsyncpgDriver(await asyncpg.connect(server_url(DATABASE)))
    else:
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

        batch = int(args[1]) if len(args) > 1 else 10
        await pgq.run(mode=QueueExecutionMode.drain, batch_size=batch)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
