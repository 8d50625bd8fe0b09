"""The raw-SQL ceiling: pgbench runs stage 5's statement per batch (taskqueue/sql.py
COMPLETE_AND_CLAIM_FROM_QUEUES, the same text: a worker of the default settings serves two
queues) with no Python at all, 2 clients, 1 and 100 tasks per claim.

pgbench cannot keep a list between statements, so the claim is wrapped: its rows' ids and
attempts (and a JSON null result for each) come back as arrays, which `\\gset` hands to the
completion.
"""

import importlib.util
import os
import re
import subprocess
import tempfile
from functools import partial
from pathlib import Path

from workshop import embedded
from workshop.bench import Row
from workshop.bench.db import STAGE5_DB, reset
from workshop.bench.processing import enqueue_noops
from workshop.database import server_url

GROUP = "pgbench"
CLIENTS = 2


def pgbench_path() -> Path:
    return embedded.program("pgbench")


def script() -> str:
    """Stage 5's statement per batch (sql.py COMPLETE_AND_CLAIM_FROM_QUEUES: the last batch
    completed and the next claimed, in one), its %(name)s parameters as pgbench :variables.
    The claimed rows come back as arrays, which `\\gset` keeps for the next run of the script."""
    sql = stage5_statement().strip()
    final = sql.index("SELECT false AS finished")
    sql = sql[:final] + (
        "SELECT coalesce(array_agg(id), '{}') AS ids,"
        " coalesce(array_agg(attempts), '{}') AS attempts,"
        " coalesce(array_agg('null'::text), '{}') AS results,"
        " coalesce(array_agg(0::float8), '{}') AS started_ago FROM claimed"
    )
    for name in ("batch_size", "worker", "queues", "ids", "attempts", "results", "started_ago"):
        sql = sql.replace(f"%({name})s", f":{name}")
    # pgbench reads one statement per line unless `\gset` ends it.
    return f"{one_line(sql)} \\gset\n"


def one_line(sql: str) -> str:
    """pgbench reads a statement per line: comments (`-- ...` to the end of a line) go first."""
    return " ".join(re.sub(r"--[^\n]*", "", sql).split())


def stage5_statement() -> str:
    """The statement itself, from stage 5's taskqueue/sql.py: a module of plain strings, loaded
    from its file (no settings, no sys.path)."""
    from workshop.bench.db import STAGE5_DIR

    spec = importlib.util.spec_from_file_location("stage5_sql", STAGE5_DIR / "taskqueue" / "sql.py")
    queries = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(queries)
    return queries.COMPLETE_AND_CLAIM_FROM_QUEUES


def measure(batch: int, count: int) -> list[Row]:
    reset(STAGE5_DB)
    enqueue_noops(count)
    per_client = count // (CLIENTS * batch)
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as file:
        file.write(script())
        file.flush()
        command = [
            str(pgbench_path()),
            "--no-vacuum",
            "--protocol=prepared",  # as stage 5: each statement prepared once
            f"--client={CLIENTS}",
            f"--jobs={CLIENTS}",
            f"--transactions={per_client}",
            f"--file={file.name}",
            "-D",
            f"batch_size={batch}",
            "-D",
            "worker=pgbench",
            "-D",
            "queues={default,emails}",  # the bench's worker serves both (QUEUES)
            "-D",
            "ids={}",
            "-D",
            "attempts={}",
            "-D",
            "results={}",
            "-D",
            "started_ago={}",
            server_url(STAGE5_DB),
        ]
        # As the worker's connection (taskqueue/connections.py): the prepared statement keeps its
        # generic plan, not planned again at every run.
        env = {**os.environ, "PGOPTIONS": "-c plan_cache_mode=force_generic_plan"}
        result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{result.stdout}{result.stderr}")
    tps = float(re.search(r"tps = ([\d.]+)", result.stdout).group(1))
    note = f"{per_client * CLIENTS * batch:,} tasks, {CLIENTS} clients"
    return [Row(GROUP, f"pgbench, stage 5 SQL, batch {batch}", tps * batch, "tasks/s", note=note)]


def steps(sizes) -> list:
    return [
        ("pgbench, batch 100", partial(measure, 100, sizes.tasks)),
        ("pgbench, batch 1", partial(measure, 1, sizes.slow_tasks)),
    ]
