"""`make bench`: no-op tasks on this machine, stage 5 against the alternatives, in one run.

One module per family of rows (enqueue, processing, latency, growth, pgbench, alternatives/),
each a function that returns `Row`s; `__main__` runs them under a progress bar, prints the
table, checks the targets (report.py) and writes measurements/bench.csv and bench.txt.
"""

from dataclasses import dataclass


@dataclass
class Row:
    group: str
    name: str
    value: float | None  # None: not measured (the note says why)
    unit: str
    note: str = ""
    target: str = ""
    ratio_to_stage5: float | None = None


def skipped(group: str, name: str, why: str) -> Row:
    """A row that could not be measured: the run goes on and the table says why."""
    return Row(group, name, None, "", note=f"skipped: {why}")
