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


def pairs(name: str, rounds: int, once, ratio=lambda first, second: first / second) -> list[list]:
    """`rounds` rows: the round, both rates, and their ratio (the first over the second)."""
    table = []
    for number in range(1, rounds + 1):
        first, second = once(number)
        table.append([number, f"{first:,.0f}", f"{second:,.0f}", f"{ratio(first, second):.2f}"])
        print(name, *table[-1], flush=True)
    return table


def spread(table, column) -> str:
    """The median of a column and its range: `0.81 (0.77-0.83)`."""
    values = [float(row[column]) for row in table]
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


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
    if "growth" in only:
        table = pairs("growth", args.rounds, growth_round, lambda empty, grown: grown / empty)
        header.append(f"growth: {spread(table, 3)}")
        tables.append(
            (f"Stage 5, 2 processes, batch 100, {TASKS:,} tasks: empty, then {FINISHED:,}"
             " finished rows (target: at least 0.9)",
             ["round", "empty, tasks/s", "1,000,000 finished, tasks/s", "ratio"], table)
        )  # fmt: skip
    if "bulk" in only:
        table = []
        for number in range(1, args.rounds + 1):
            (many, many_cpu), (plain, plain_cpu) = once("enqueue-many", BULK), once("copy", BULK)
            table.append(
                [number, f"{many:,.0f}", f"{many_cpu:.2f}", f"{plain:,.0f}", f"{plain_cpu:.2f}",
                 f"{many / plain:.2f}"]
            )  # fmt: skip
            print("bulk", *table[-1], flush=True)
        header.append(
            f"bulk: {spread(table, 5)}, client CPU {spread(table, 2).split()[0]} against"
            f" {spread(table, 4).split()[0]} µs/task"
        )
        tables.append(
            (f"{BULK:,} tasks in one COPY (target: at least 0.9)",
             ["round", "enqueue_many, tasks/s", "its client CPU, µs/task", "plain COPY, tasks/s",
              "its client CPU, µs/task", "ratio"], table)
        )  # fmt: skip
    if "ceiling" in only:
        table = pairs("ceiling", args.rounds, ceiling_round)
        header.append(f"ceiling: {spread(table, 3)}")
        tables.append(
            (f"Stage 5 and pgbench on stage 5's own statement, batch 100, {TASKS:,} tasks"
             " (target: at least 0.8)",
             ["round", "stage 5, tasks/s", "pgbench, tasks/s", "ratio"], table)
        )  # fmt: skip
    if "pgqueuer" in only:
        table = pairs("pgqueuer", args.rounds, pgqueuer_round)
        header.append(f"pgqueuer: {spread(table, 3)}")
        tables.append(
            (f"Stage 5 and PgQueuer matched (asyncpg, batch 100), 2 processes, {TASKS:,} tasks"
             " (target: at least 2.5)",
             ["round", "stage 5, tasks/s", "PgQueuer, tasks/s", "ratio"], table)
        )  # fmt: skip

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
