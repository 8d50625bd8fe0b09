"""The raw-SQL ceiling: pgbench runs stage 5's claim and completion statements (claim.py CLAIM,
done.py COMPLETE, the same text) with no Python at all, 2 clients, 1 and 100 tasks per claim.

pgbench cannot keep a list between statements, so the claim is wrapped: its rows' ids and
attempts (and a JSON null result for each) come back as arrays, which `\\gset` hands to the
completion.
"""

import re
import subprocess
import tempfile
from functools import partial
from pathlib import Path

from workshop.bench import Row
from workshop.bench.db import STAGE5_DB, reset
from workshop.bench.processing import enqueue_noops
from workshop.database import server_url
from workshop.embedded import _package

GROUP = "pgbench"
CLIENTS = 2


def pgbench_path() -> Path:
    return Path(_package().__file__).parent / "pginstall" / "bin" / "pgbench"


def script() -> str:
    """Stage 5's statements, their %(name)s parameters as pgbench :variables."""
    from_stage = _stage5_sql()
    claim = from_stage["CLAIM"].strip()
    # `WITH next AS (...) UPDATE ... RETURNING ...` becomes a second CTE, `claimed`.
    claim = claim.replace(
        "\nUPDATE taskqueue_task AS task", ",\nclaimed AS (\nUPDATE taskqueue_task AS task"
    )
    claim += "\n)\nSELECT coalesce(array_agg(id), '{}') AS ids,"
    claim += " coalesce(array_agg(attempts), '{}') AS attempts,"
    claim += " coalesce(array_agg('null'::text), '{}') AS results FROM claimed"
    for name in ("batch_size", "worker", "queue"):
        claim = claim.replace(f"%({name})s", f":{name}")
    complete = from_stage["COMPLETE"].strip()
    for variable in (":ids", ":attempts", ":results", ":worker"):
        complete = complete.replace("%s", variable, 1)
    # pgbench reads one statement per line unless it ends with `;`, or `\gset` ends it.
    return f"{one_line(claim)} \\gset\n{one_line(complete)};\n"


def one_line(sql: str) -> str:
    return " ".join(sql.split())


def _stage5_sql() -> dict[str, str]:
    """CLAIM and COMPLETE, read from the stage's files (importing them needs Django)."""
    from workshop.bench.db import STAGE5_DIR

    found = {}
    for file, name in (("claim.py", "CLAIM"), ("done.py", "COMPLETE")):
        text = (STAGE5_DIR / "taskqueue" / file).read_text()
        found[name] = re.search(rf'^{name} = """(.*?)"""', text, re.S | re.M).group(1)
    return found


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
            "queue=default",
            server_url(STAGE5_DB),
        ]
        result = subprocess.run(command, capture_output=True, text=True)
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
