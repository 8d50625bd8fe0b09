"""The procrastinate app for the benchmark: its own database, one no-op task."""

import procrastinate

from workshop.database import server_url

DATABASE = "bench_procrastinate"
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=server_url(DATABASE)))


@app.task(name="noop")
def noop():
    return None
