"""`python -m workshop.bench [--quick] [--only FAMILY,...]`: run the benchmark, print the
table, write bench.csv and bench.txt to .measurements/ (untracked; `--save`: the committed
measurements/, as `make measurements` does). See workshop/bench/__init__.py."""

import argparse
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from workshop.bench import (
    Row,
    enqueue,
    growth,
    latency,
    pgbench,
    processing,
    real_tasks,
    report,
    skipped,
)
from workshop.bench.db import STAGE5, STAGE5_DB, migrate, server_version
from workshop.demo import console
from workshop.measurements import folder

FAMILIES = {
    "enqueue": enqueue.steps,
    "processing": processing.steps,
    "real": real_tasks.steps,
    "latency": latency.steps,
    "growth": growth.steps,
    "pgbench": pgbench.steps,
}


@dataclass
class Sizes:
    tasks: int = 20_000  # per processing row
    # Rows that commit once per task (batch 1, stages 2 and 3) run at hundreds a second here.
    slow_tasks: int = 5_000
    enqueue_one: int = 5_000
    enqueue_bulk: int = 100_000
    latency_samples: int = 200  # p99 of 200: the second slowest
    poll_samples: int = 20
    growth_rows: int = 1_000_000
    alternative_tasks: int = 5_000
    five_ms_tasks: int = 2_000
    repeats: int = 3  # runs of each stage 5 processing row and reference loop: the median


QUICK = Sizes(300, 300, 96, 1_000, 5, 3, 2_000, 200, 100, 1)


def alternatives_steps(sizes: Sizes) -> list:
    # Imported here: the alternatives are an optional dependency group (`pip install .[bench]`).
    from workshop.bench.alternatives import steps

    return steps(sizes)


FAMILIES["alternatives"] = alternatives_steps


def run_steps(steps: list) -> list[Row]:
    """Each step returns rows; one that fails becomes a `skipped` row and the run goes on."""
    rows = []
    columns = [TextColumn("{task.description:<48}"), BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        bar = progress.add_task("benchmark", total=len(steps))
        for family, label, step in steps:
            progress.update(bar, description=label)
            try:
                rows += step()
            except Exception as error:  # a failed row must not end the run
                lines = str(error).strip().splitlines() or [type(error).__name__]
                rows.append(skipped(family, label, lines[-1][:120]))
                progress.console.print(f"[yellow]{label}: failed: {error}")
            progress.advance(bar)
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: proves it works")
    parser.add_argument("--only", help=f"comma-separated families: {', '.join(FAMILIES)}")
    parser.add_argument("--tasks", type=int, help="tasks per processing row (default 20,000)")
    parser.add_argument("--growth-rows", type=int, help="finished rows (default 1,000,000)")
    parser.add_argument(
        "--out", type=Path, help="folder for bench.csv and bench.txt (default: .measurements/)"
    )
    parser.add_argument("--save", action="store_true", help="write the committed measurements/")
    args = parser.parse_args(argv)
    # A quick run's numbers mean nothing: they must not replace the committed measurements
    # (which the README quotes and the notebook plots).
    stem = "bench"
    if args.out is None:
        quick_out = Path(tempfile.mkdtemp(prefix="bench-quick-"))
        args.out = quick_out if args.quick else folder(args.save)
        # A run of some families only is not the table bench.csv holds (the notebooks plot
        # it): it goes beside it, as bench-growth.csv for `--only growth`.
        if args.only:
            stem = "bench-" + "-".join(args.only.split(","))
    sizes = QUICK if args.quick else Sizes()
    sizes.tasks = args.tasks or sizes.tasks
    sizes.growth_rows = args.growth_rows or sizes.growth_rows
    families = args.only.split(",") if args.only else list(FAMILIES)
    if unknown := set(families) - set(FAMILIES):
        parser.error(f"no such family: {', '.join(sorted(unknown))}")

    migrate(STAGE5, STAGE5_DB)
    steps = []
    for family in families:
        try:
            steps += [(family, label, step) for label, step in FAMILIES[family](sizes)]
        except ImportError as error:
            row = skipped(family, family, f"not installed ({error}): pip install -e .[bench]")
            steps.append((family, family, partial(list, [row])))
    rows = run_steps(steps)
    report.add_ratios(rows)
    rows += report.targets(rows, sizes.growth_rows)

    machine = f"{os.cpu_count()} cores, {platform.system()}, PostgreSQL {server_version()}"
    shown = [arg for arg in argv if arg != "--save"]  # where it wrote changes nothing measured
    command = "make bench" if not shown else f"python -m workshop.bench {' '.join(shown)}"
    header = [
        f"`{command}`, {date.today()}; {machine}",
        "No-op tasks on a shared machine: the rows that say so are medians of 3 runs, the"
        " others single runs; expect 10-30 % noise between runs.",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_csv(rows, args.out / f"{stem}.csv")
    (args.out / f"{stem}.txt").write_text(report.text_table(rows, header))
    report.show(rows, f"Benchmark: {machine} (numbers are noisy: a shared machine)")
    console.print(f"written: {args.out / f'{stem}.csv'}, {args.out / f'{stem}.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
