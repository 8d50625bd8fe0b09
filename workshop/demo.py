"""Plumbing for the stages' `demo` commands: start workers, show a progress bar, print a table.

What a demo enqueues and how it counts is the stage's own business; this module only runs the
processes and draws the screen.
"""

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from workshop.processes import ManagedProcess

console = Console()


def run_burst(
    stage_dir: Path,
    worker_args: Sequence[str],
    workers: int,
    enqueue: Callable[[], None],
    finished: Callable[[], int],
    total: int,
    label: str,
    timeout: float = 300,
    during: Callable[[list[ManagedProcess], int], None] | None = None,
) -> float:
    """Start `workers` worker processes, enqueue a burst, and wait until `finished()` reaches
    `total`, drawing a progress bar. Returns the seconds from enqueue to the last task done.

    `during(processes, done)` is called at each refresh: a demo may kill a worker there (and
    take it out of the list) or start a new one (and add it)."""
    processes = [ManagedProcess(stage_dir, "worker", *worker_args) for _ in range(workers)]
    try:
        for process in processes:
            process.wait_for(r"ready")
        started = time.perf_counter()
        enqueue()
        columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task(label, total=total)
            while (done := finished()) < total:
                progress.update(bar, completed=done)
                if during is not None:
                    during(processes, done)
                if time.perf_counter() - started > timeout:
                    raise TimeoutError(f"{label}: only {done} of {total} tasks after {timeout}s")
                if any(process.popen.poll() is not None for process in processes):
                    crashed = next(p for p in processes if p.popen.poll() is not None)
                    raise RuntimeError(f"a worker exited early:\n{crashed.output}")
                time.sleep(0.1)
            progress.update(bar, completed=done)
        return time.perf_counter() - started
    finally:
        for process in processes:
            process.stop()


def read_table(output: str) -> dict[str, dict]:
    """The inverse of print_table, for code that reads a demo's output (tests, notebooks):
    {first cell of a row: {column: value}}, with whole numbers as ints."""
    lines = output.splitlines()
    header = next(line for line in lines if "┃" in line)
    columns = [cell.strip() for cell in header.split("┃")[1:-1]]
    table = {}
    for line in lines:
        if "│" in line:
            cells = [cell.strip() for cell in line.split("│")[1:-1]]
            values = [int(cell) if cell.isdigit() else cell for cell in cells]
            table[cells[0]] = dict(zip(columns, values, strict=True))
    return table


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console.print(table)
