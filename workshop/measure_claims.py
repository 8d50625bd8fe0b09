"""`make measure-claims`: tasks/s of stage 2's locked claim and stage 3's SKIP LOCKED claim, with
1, 2 and 4 workers and batches of 1, 10 and 100, on this machine, in one run.

Each row: enqueue N no-op tasks, start the workers with `--burst` (they exit when the queue is
empty) behind a lock on the table, and divide N by the time from releasing the lock (all workers
started) to the last finish, read from the queue table; the median of `--repeat` runs. Writes
claims.csv and claims.txt to .measurements/ (untracked), or with `--save` to measurements/
(the committed run, quoted by stage 3's README): workshop/measurements.py.
"""

import argparse
import csv
import os
import platform
import statistics
import sys
from datetime import date

import psycopg
from rich.progress import track

from workshop import REPO_ROOT
from workshop.bench.db import gate, wait_all
from workshop.database import server_url
from workshop.demo import console, print_table
from workshop.measurements import folder
from workshop.processes import ManagedProcess, run_manage

HOLD = 0.05  # seconds a slow claim holds its locks (`--race-window`): a slow query, a busy server
LOCKED = ["--claim", "locked"]
SLOW = ["--race-window", str(HOLD)]
# (stage, extra worker arguments, workers, batch size). The last four rows hold each claim's
# locks for HOLD seconds: there FOR UPDATE workers take turns, and SKIP LOCKED ones do not.
ROWS = [
    ("stage02_db_queue", LOCKED, 2, 10),
    ("stage02_db_queue", LOCKED, 4, 10),
    ("stage03_skip_locked", [], 1, 10),
    ("stage03_skip_locked", [], 2, 10),
    ("stage03_skip_locked", [], 4, 10),
    ("stage03_skip_locked", [], 2, 1),
    ("stage03_skip_locked", [], 2, 100),
    ("stage02_db_queue", LOCKED + SLOW, 2, 10),
    ("stage02_db_queue", LOCKED + SLOW, 4, 10),
    ("stage03_skip_locked", SLOW, 2, 10),
    ("stage03_skip_locked", SLOW, 4, 10),
]


def measure(
    stage: str, worker_args: list[str], workers: int, batch: int, tasks: int, database: str = ""
) -> float:
    """Tasks/s of `workers` burst workers of `stage` on `tasks` no-op tasks, from the instant
    all of them stand at their first claim (the gate: Python's start-up is left out) to the
    last task finished. `database`: another than the stage's own (the benchmark's)."""
    database = database or stage
    env = {"WORKSHOP_DB_NAME": database}
    with psycopg.connect(server_url(database), autocommit=True) as conn:
        conn.execute("TRUNCATE taskqueue_task, taskqueue_execution")
    wait_all([ManagedProcess(REPO_ROOT / stage, "enqueue", "noop", "--count", str(tasks), env=env)])
    with gate(database, "taskqueue_task") as open_gate:
        processes = [
            ManagedProcess(
                REPO_ROOT / stage,
                "worker",
                "--burst",
                "--batch-size",
                str(batch),
                "--verbosity",
                "0",
                *worker_args,
                env=env,
            )
            for _ in range(workers)
        ]
        opened = open_gate(workers, processes)
    wait_all(processes)
    with psycopg.connect(server_url(database)) as conn:
        done, last = conn.execute(
            "SELECT count(*), extract(epoch FROM max(finished_at))"
            " FROM taskqueue_task WHERE status = 'DONE'"
        ).fetchone()
    if done != tasks:
        raise RuntimeError(f"{stage}: {done} of {tasks} tasks done")
    return tasks / (float(last) - opened)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the median counts")
    parser.add_argument("--save", action="store_true", help="write the committed measurements/")
    args = parser.parse_args(argv)

    for stage in sorted({row[0] for row in ROWS}):
        run_manage(stage, "migrate", "--verbosity", "0")
    results = []
    for stage, worker_args, workers, batch in track(ROWS, description="measuring", console=console):
        # The median of a few runs: one run on a small machine is at the mercy of its neighbours.
        rate = statistics.median(
            measure(stage, worker_args, workers, batch, args.tasks) for _ in range(args.repeat)
        )
        claim = "FOR UPDATE" if "locked" in worker_args else "SKIP LOCKED"
        held = round(HOLD * 1000) if "--race-window" in worker_args else 0
        results.append([stage, claim, workers, batch, held, round(rate)])

    columns = ["stage", "claim", "workers", "batch", "claim held, ms", "tasks/s"]
    out = folder(args.save)
    with open(out / "claims.csv", "w", newline="") as file:
        csv.writer(file).writerows([columns, *results])
    with psycopg.connect(server_url()) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    machine = f"{os.cpu_count()} cores, {platform.system()}, PostgreSQL {server}"
    runs = f"{args.tasks} no-op tasks per run, median of {args.repeat} runs"
    lines = [f"{runs}; {machine}; {date.today()}", ""]
    lines.append(
        f"{'stage':<20} {'claim':<12} {'workers':>7} {'batch':>5} {'claim held, ms':>14}"
        f" {'tasks/s':>8}"
    )
    lines += [f"{s:<20} {c:<12} {w:>7} {b:>5} {h:>14} {r:>8}" for s, c, w, b, h, r in results]
    (out / "claims.txt").write_text("\n".join(lines) + "\n")
    print_table(f"Claims, {args.tasks} no-op tasks per row", columns, results)
    console.print(f"written: {out / 'claims.csv'}, {out / 'claims.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
