"""`python -m workshop.bench.turns [--rounds 5] [--only ceiling,pgqueuer] [--save]`: the ratio
targets of `make bench`, measured in pairs, in turns: one run, then its reference, round after
round, so that the drift of a shared machine between two runs minutes apart cancels. Each
family reports the median of its rounds' ratios and their range.

- growth: stage 5 (2 processes, batch 100) on the empty table, then on a million finished rows.
- bulk: enqueue_many() and a plain psycopg COPY of the same rows, with the CPU each spends on
  the client side (the child's own process time), to two decimals.
- ceiling: stage 5 and pgbench running stage 5's own statement with no Python (2 clients, batch
  100); which of the two goes first alternates from round to round.
- pgqueuer: stage 5 and PgQueuer at matched settings (2 processes, asyncpg, batch 100),
  alternating too.

Writes .measurements/turns.txt (with --save: measurements/turns.txt, which the README quotes).
"""

import argparse
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from workshop.bench import growth, pgbench
from workshop.bench.alternatives import pgqueuer
from workshop.bench.db import STAGE5, STAGE5_DB, migrate
from workshop.bench.enqueue import once
from workshop.bench.processing import stage5_rate
from workshop.measurements import write_tables

TASKS, FINISHED, BULK = 20_000, 1_000_000, 100_000
FAMILIES = ["growth", "bulk", "ceiling", "pgqueuer"]


def growth_round(number: int) -> tuple[float, float]:
    empty = stage5_rate(2, 100, TASKS)  # resets the table first
    growth.fill(FINISHED)
    return empty, stage5_rate(2, 100, TASKS, fresh=False)


def alternating(number: int, reference) -> tuple[float, float]:
    """Stage 5 and `reference()`, stage 5 first in odd rounds and second in even ones."""
    if number % 2:
        ours = stage5_rate(2, 100, TASKS)
        return ours, reference()
    theirs = reference()
    return stage5_rate(2, 100, TASKS), theirs


def ceiling_round(number: int) -> tuple[float, float]:
    return alternating(number, lambda: pgbench.measure(100, TASKS)[0].value)


def pgqueuer_round(number: int) -> tuple[float, float]:
    return alternating(number, lambda: pgqueuer.measure(TASKS, matched=True).value)


def pairs(name: str, rounds: int, once, ratio) -> list[list]:
    """`rounds` rows: the round, both rates, and their ratio."""
    table = []
    for number in range(1, rounds + 1):
        first, second = once(number)
        table.append([number, f"{first:,.0f}", f"{second:,.0f}", f"{ratio(first, second):.2f}"])
        print(name, *table[-1], flush=True)
    return table


def bulk_rounds(rounds: int) -> list[list]:
    """`rounds` rows: each side's rate and client CPU, and their ratio."""
    table = []
    for number in range(1, rounds + 1):
        (many, many_cpu), (plain, plain_cpu) = once("enqueue-many", BULK), once("copy", BULK)
        table.append(
            [number, f"{many:,.0f}", f"{many_cpu:.2f}", f"{plain:,.0f}", f"{plain_cpu:.2f}",
             f"{many / plain:.2f}"]
        )  # fmt: skip
        print("bulk", *table[-1], flush=True)
    return table


@dataclass
class Paired:
    """A family of two rates per round: how a round runs, how its ratio is taken, its table."""

    once: Callable[[int], tuple[float, float]]
    ratio: Callable[[float, float], float]
    title: str
    columns: list[str]


PAIRED = {
    "growth": Paired(
        growth_round,
        lambda empty, grown: grown / empty,
        f"Stage 5, 2 processes, batch 100, {TASKS:,} tasks: empty, then {FINISHED:,} finished"
        " rows (target: at least 0.9)",
        ["round", "empty, tasks/s", "1,000,000 finished, tasks/s", "ratio"],
    ),
    "ceiling": Paired(
        ceiling_round,
        lambda ours, theirs: ours / theirs,
        f"Stage 5 and pgbench on stage 5's own statement, batch 100, {TASKS:,} tasks"
        " (target: at least 0.8)",
        ["round", "stage 5, tasks/s", "pgbench, tasks/s", "ratio"],
    ),
    "pgqueuer": Paired(
        pgqueuer_round,
        lambda ours, theirs: ours / theirs,
        f"Stage 5 and PgQueuer matched (asyncpg, batch 100), 2 processes, {TASKS:,} tasks"
        " (target: at least 2.5)",
        ["round", "stage 5, tasks/s", "PgQueuer, tasks/s", "ratio"],
    ),
}
BULK_COLUMNS = ["round", "enqueue_many, tasks/s", "its client CPU, µs/task",
                "plain COPY, tasks/s", "its client CPU, µs/task", "ratio"]  # fmt: skip


def median(table, column) -> str:
    return f"{statistics.median(float(row[column]) for row in table):.2f}"


def spread(table, column) -> str:
    """The median of a column and its range: `0.81 (0.77-0.83)`."""
    values = [float(row[column]) for row in table]
    return f"{median(table, column)} ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", help=f"some of {','.join(FAMILIES)} (default: all)")
    parser.add_argument("--save", action="store_true", help="write the committed measurements/")
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else FAMILIES
    if unknown := set(only) - set(FAMILIES):
        parser.error(f"no family {', '.join(sorted(unknown))}: choose among {FAMILIES}")
    migrate(STAGE5, STAGE5_DB)

    header, tables = [], []
    for family in (name for name in FAMILIES if name in only):
        if family == "bulk":
            table = bulk_rounds(args.rounds)
            header.append(
                f"bulk: {spread(table, 5)}, client CPU {median(table, 2)} against"
                f" {median(table, 4)} µs/task"
            )
            tables.append(
                (f"{BULK:,} tasks in one COPY (target: at least 0.9)", BULK_COLUMNS, table)
            )
        else:
            paired = PAIRED[family]
            table = pairs(family, args.rounds, paired.once, paired.ratio)
            header.append(f"{family}: {spread(table, 3)}")
            tables.append((paired.title, paired.columns, table))

    name = "turns.txt" if only == FAMILIES else f"turns-{'-'.join(only)}.txt"
    first = (
        f"`python -m workshop.bench.turns --rounds {args.rounds}"
        + (f" --only {args.only}" if args.only else "")
        + f"`, {date.today()}: pairs in turns; each family's median ratio (its range)"
    )
    path = write_tables(name, args.save, "\n".join([first, "; ".join(header)]), tables)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
