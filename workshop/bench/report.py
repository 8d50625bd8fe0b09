"""The targets stage 5 aims at, the ratios to stage 5, and the table in three forms: printed
(rich), CSV for the notebooks (measurements/bench.csv), text for the README (bench.txt)."""

import csv
from pathlib import Path

from rich.console import Console
from rich.table import Table

from workshop.bench import Row, enqueue, growth, processing, real_tasks
from workshop.demo import console

COLUMNS = ["group", "name", "value", "unit", "target", "ratio_to_stage5", "note"]
# Rows in tasks/s that are read as a multiple of stage 5's (2 processes, batch 100).
COMPARED = {"processing", "growth", "pgbench", "alternatives"}


def add_ratios(rows: list[Row]) -> None:
    reference = next((r.value for r in rows if r.name == processing.STAGE5_REFERENCE), None)
    for row in rows:
        if reference and row.value and row.group in COMPARED and row.unit == "tasks/s":
            row.ratio_to_stage5 = row.value / reference


def targets(rows: list[Row], growth_rows: int) -> list[Row]:
    """Stage 5's targets for a 2-core machine, each measured value next to it: ok or missed."""
    value = {row.name: row.value for row in rows}

    def ratio(top: str, bottom: str) -> float | None:
        if value.get(top) and value.get(bottom):
            return value[top] / value[bottom]
        return None

    stage5, batch1 = processing.STAGE5_REFERENCE, processing.stage5_name(2, 1)
    checks = [
        ("processing, 2 processes, batch 100", value.get(stage5), 30_000, "tasks/s"),
        ("processing: stage 5 / bare ORM loop", ratio(stage5, processing.ORM_LOOP), 0.8, "x"),
        ("processing: stage 5 / ORM loop, claim committed first",
         ratio(stage5, processing.ORM_LOOP_TWO_WRITES), 0.8, "x"),
        ("batch 1: stage 5 / plain psycopg loop", ratio(batch1, processing.PSYCOPG_LOOP), 0.8, "x"),
        ("bulk: enqueue_many / plain COPY", ratio(enqueue.BULK, enqueue.BULK_PLAIN), 0.9, "x"),
        ("one at a time: enqueue() / INSERT", ratio(enqueue.ONE, enqueue.ONE_PLAIN), 0.8, "x"),
        (f"{enqueue.ENQUEUERS} at once: enqueue() / plain INSERT",
         ratio(enqueue.MANY_QUIET, enqueue.MANY_PLAIN), 0.8, "x"),
        ("5 ms tasks, 2 processes: of the ideal", value.get(real_tasks.FIVE_MS), 0.85, "x"),
        ("20 tasks of 1 s, 4 processes", value.get(real_tasks.ONE_SECOND), -6.0, "s"),
        ("notify latency p50", value.get("LISTEN/NOTIFY, enqueue to start, p50"), -3.0, "ms"),
        ("notify latency p99", value.get("LISTEN/NOTIFY, enqueue to start, p99"), -10.0, "ms"),
        (
            f"{growth_rows:,} finished rows / empty",
            ratio(growth.name(growth_rows), processing.STAGE5_REFERENCE),
            0.9,
            "x",
        ),
    ]  # fmt: skip
    found = []
    for name, measured, bound, unit in checks:
        # A negative bound is an upper limit (latency); a positive one a lower limit.
        target = f"<= {-bound:g}" if bound < 0 else f">= {bound:,g}"
        if measured is None:
            verdict = "not measured"
        else:
            verdict = "ok" if (measured <= -bound if bound < 0 else measured >= bound) else "missed"
        found.append(Row("targets", name, measured, unit, note=verdict, target=target))
    return found


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if abs(value) >= 10 or digits == 0 else f"{value:.2f}"


def cells(row: Row) -> list[str]:
    digits = 2 if row.unit in ("x", "ms") else 0
    ratio = "" if row.ratio_to_stage5 is None else f"{row.ratio_to_stage5:.2f}"
    return [row.group, row.name, number(row.value, digits), row.unit, row.target, ratio, row.note]


def write_csv(rows: list[Row], path: Path) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for row in rows:
            value = "" if row.value is None else f"{row.value:.6g}"
            ratio = "" if row.ratio_to_stage5 is None else f"{row.ratio_to_stage5:.3f}"
            writer.writerow([row.group, row.name, value, row.unit, row.target, ratio, row.note])


def text_table(rows: list[Row], header: list[str]) -> str:
    table = [["group", "name", "value", "unit", "target", "x stage 5", "note"]]
    table += [cells(row) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    right = {2, 5}  # the numbers

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    lines = [line(cells) for cells in table]
    return "\n".join([*header, "", *lines]) + "\n"


def show(rows: list[Row], title: str) -> None:
    table = Table(title=title)
    for column in ["group", "name", "value", "unit", "target", "x stage 5", "note"]:
        justify = "right" if column in ("value", "x stage 5") else "left"
        table.add_column(column, justify=justify, no_wrap=column != "note")
    for row in rows:
        table.add_row(*cells(row))
    # Wide even when piped (make bench | tee): a row per line is what makes it readable.
    wide = console if console.width >= 150 else Console(width=150)
    wide.print(table)
