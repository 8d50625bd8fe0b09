"""Where measurements are written, and read.

A learner who runs a lesson's measuring command (`make measure-claims`, `make bench`,
`manage.py loadtest`) gets the numbers printed and written to `.measurements/`, which git
ignores: following a lesson leaves `git status` clean, and the committed numbers the READMEs
quote stay as they were. The maintainer's `make measurements` runs them all with `--save`,
into `measurements/`, and refreshes the excerpts the READMEs quote.

The notebooks plot your latest run where there is one, else the committed one (`latest`).
"""

from pathlib import Path

from workshop import REPO_ROOT

COMMITTED = REPO_ROOT / "measurements"
LOCAL = REPO_ROOT / ".measurements"


def folder(save: bool) -> Path:
    """Where a run writes: the committed folder with `--save`, else the untracked one."""
    path = COMMITTED if save else LOCAL
    path.mkdir(exist_ok=True)
    return path


def latest(name: str) -> Path:
    """Your latest measurement `name` (in .measurements/), or the committed one."""
    mine = LOCAL / name
    return mine if mine.exists() else COMMITTED / name


def write_tables(name: str, save: bool, header: str, tables: list[tuple]) -> Path:
    """Write `tables` ((title, columns, rows), ...) as plain text under `header`, to your
    folder or, with `save`, the committed one; return the file. The READMEs quote these."""
    lines = [header]
    for title, columns, rows in tables:
        lines += ["", title, *text_table(columns, rows)]
    path = folder(save) / name
    path.write_text("\n".join(lines) + "\n")
    return path


def text_table(columns, rows) -> list[str]:
    """`columns` over `rows` as plain-text lines: the first column to the left, the others
    (numbers) to the right, two spaces apart."""
    cells = [list(map(str, columns)), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return [
        f"{first:<{widths[0]}}"
        + "".join(f"  {cell:>{width}}" for cell, width in zip(rest, widths[1:], strict=True))
        for first, *rest in cells
    ]
