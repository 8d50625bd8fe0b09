"""A measured figure in a README's prose is one that a committed measurement file holds.

Measured figures drift: a rate typed into prose stays while the machine, the code and the
measurements move on, and a learner whose run disagrees is told the lesson is wrong. So a rate
(tasks/s, tasks a second) or a duration to the hundredth of a millisecond, written in prose
outside the quoted blocks (which the excerpt check keeps in step), must be a figure that a file
in measurements/ holds. Settings and sizes ("5 ms tasks", "a 30 s lease") are not measured and
are not checked.
"""

import re

import pytest

from workshop import REPO_ROOT
from workshop.excerpts import readmes

MEASURED = re.compile(
    r"(?P<figure>\d[\d,]*(?:\.\d+)?)\s*(?:tasks/s\b|tasks a second|tasks per second)"
    r"|(?P<ms>\d+\.\d\d)\s*ms\b"
)
CODE = re.compile(r"```.*?```", re.S)


def measured_figures() -> set[str]:
    figures = set()
    for path in (REPO_ROOT / "measurements").iterdir():
        if path.is_file():
            figures |= set(re.findall(r"\d[\d,]*(?:\.\d+)?", path.read_text()))
    return figures


def prose_figures(text: str) -> list[str]:
    prose = CODE.sub("", text)
    return [match["figure"] or match["ms"] for match in MEASURED.finditer(prose)]


@pytest.mark.parametrize("readme", readmes(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_a_measured_figure_in_prose_is_in_a_measurement_file(readme):
    known = measured_figures()
    unknown = [figure for figure in prose_figures(readme.read_text()) if figure not in known]

    assert not unknown, (
        f"{readme.relative_to(REPO_ROOT)} quotes {', '.join(unknown)}, which no file in"
        " measurements/ holds: quote the measurement file instead (an excerpt), or say it as a"
        " range the command reproduces"
    )


def test_the_check_sees_a_figure_typed_into_prose():
    text = "Stage 5 ran 31,337 tasks/s here.\n```text\n12,345 tasks/s\n```\nIt took 2.47 ms."
    assert prose_figures(text) == ["31,337", "2.47"]
