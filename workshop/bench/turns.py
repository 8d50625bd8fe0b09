"""`python -m workshop.bench.turns [--rounds 5] [--save]`: the two targets that landed on both
sides of their bound from one `make bench` to the next, measured in pairs, in turns.

- A million finished rows: each round runs stage 5 (2 processes, batch 100) on the empty table,
  then fills it with finished rows and runs again. `make bench` compares the growth row with a
  row measured minutes earlier; here each pair is a minute apart, so drift between runs cancels.
- Bulk: each round runs enqueue_many() and a plain psycopg COPY of the same rows, with the CPU
  each spends on the client side (the child's own process time), to two decimals.

Writes .measurements/turns.txt (with --save: measurements/turns.txt, which the README quotes).
"""

import argparse
import statistics
import sys
from datetime import date

from workshop.bench import growth
from workshop.bench.db import STAGE5, STAGE5_DB, migrate
from workshop.bench.enqueue import once
from workshop.bench.processing import stage5_rate
from workshop.measurements import write_tables

TASKS, FINISHED, BULK = 20_000, 1_000_000, 100_000


def growth_round() -> tuple[float, float]:
    empty = stage5_rate(2, 100, TASKS)  # resets the table first
    growth.fill(FINISHED)
    return empty, stage5_rate(2, 100, TASKS, fresh=False)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--save", action="store_true", help="write the committed measurements/")
    args = parser.parse_args(argv)
    migrate(STAGE5, STAGE5_DB)

    growth_table = []
    for number in range(1, args.rounds + 1):
        empty, grown = growth_round()
        growth_table.append([number, f"{empty:,.0f}", f"{grown:,.0f}", f"{grown / empty:.2f}"])
        print("growth", *growth_table[-1], flush=True)
    bulk_table = []
    for number in range(1, args.rounds + 1):
        (many, many_cpu), (plain, plain_cpu) = once("enqueue-many", BULK), once("copy", BULK)
        bulk_table.append(
            [number, f"{many:,.0f}", f"{many_cpu:.2f}", f"{plain:,.0f}", f"{plain_cpu:.2f}",
             f"{many / plain:.2f}"]
        )  # fmt: skip
        print("bulk", *bulk_table[-1], flush=True)

    def median(table, column) -> str:
        return f"{statistics.median(float(row[column]) for row in table):.2f}"

    header = (
        f"`python -m workshop.bench.turns --rounds {args.rounds}`, {date.today()}: pairs in turns"
        f"\ngrowth: median ratio {median(growth_table, 3)};"
        f" bulk: median ratio {median(bulk_table, 5)},"
        f" client CPU {median(bulk_table, 2)} against {median(bulk_table, 4)} µs/task"
    )
    path = write_tables(
        "turns.txt",
        args.save,
        header,
        [
            (f"Stage 5, 2 processes, batch 100, {TASKS:,} tasks: empty, then {FINISHED:,}"
             " finished rows",
             ["round", "empty, tasks/s", "1,000,000 finished, tasks/s", "ratio"], growth_table),
            (f"{BULK:,} tasks in one COPY",
             ["round", "enqueue_many, tasks/s", "its client CPU, µs/task", "plain COPY, tasks/s",
              "its client CPU, µs/task", "ratio"], bulk_table),
        ],
    )  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
