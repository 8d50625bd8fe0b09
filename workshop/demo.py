"""Plumbing for the stages' `demo` commands: start workers, show a progress bar, print a table.

What a demo enqueues and how it counts is the stage's own business; this module only runs the
processes and draws the screen.
"""

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from workshop.processes import ManagedProcess, wait_until

console = Console()
READY = re.compile(r"\bready\b")


@contextmanager
def running(
    stage_dir: Path,
    worker_args: Sequence[str],
    workers: int = 1,
    ready_lines: int = 1,
    env: dict | None = None,
) -> Iterator[list[ManagedProcess]]:
    """Start `workers` worker processes and wait until each has printed `ready_lines` lines
    with the word "ready" (a supervisor of N children prints N + 1); stop them all on the way
    out. `env`: added to the workers' environment (the benchmark names its database)."""
    processes = [ManagedProcess(stage_dir, "worker", *worker_args, env=env) for _ in range(workers)]
    try:
        for process in processes:
            wait_until(
                lambda: sum(bool(READY.search(line)) for line in process.lines) >= ready_lines,  # noqa: B023
                what=f"{ready_lines} ready line(s) from {process.args}",
            )
        yield processes
    finally:
        for process in processes:
            process.stop()


def watch(
    label: str,
    total: int,
    finished: Callable[[], int],
    processes: list[ManagedProcess],
    timeout: float = 300,
    during: Callable[[list[ManagedProcess], int], None] | None = None,
) -> None:
    """Draw a progress bar until `finished()` reaches `total`. `during(processes, done)` is
    called at each refresh: a demo may kill a worker there (and take it out of the list) or
    start a new one (and add it)."""
    started = time.perf_counter()
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(label, total=total)
        while (done := finished()) < total:
            progress.update(bar, completed=done)
            if during is not None:
                during(processes, done)
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"{label}: only {done} of {total} tasks after {timeout}s")
            if crashed := [p for p in processes if p.popen.poll() is not None]:
                raise RuntimeError(f"a worker exited early:\n{crashed[0].output}")
            time.sleep(0.1)
        progress.update(bar, completed=done)


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
    `total`, drawing a progress bar. Returns the seconds from enqueue to the last task done."""
    with running(stage_dir, worker_args, workers) as processes:
        started = time.perf_counter()
        enqueue()
        watch(label, total, finished, processes, timeout, during)
        return time.perf_counter() - started


def read_table(output: str) -> dict[str, dict]:
    """The inverse of print_table, for code that reads a demo's output (tests, notebooks):
    {first cell of a row: {column: value}}, with whole numbers as ints. Several tables in one
    output are read one after the other, each row with its own table's columns."""
    table, columns = {}, []
    for line in output.splitlines():
        if "┃" in line:
            columns = [cell.strip() for cell in line.split("┃")[1:-1]]
        elif "│" in line:
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
