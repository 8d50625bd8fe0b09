"""Keep the code shown in the stage READMEs identical to the code in the stage.

In a README, a code block that shows real code is preceded by a marker naming its source:

    <!-- excerpt: taskqueue/claim.py claim_batch -->
    ```python
    def claim_batch(...):
        ...
    ```

The path is relative to the README's folder; the optional second word names a function, class,
method (`Command.handle`) or module-level assignment (`CLAIM`) in that file, and without it
the block shows the whole file. The test suite fails when a block and its source differ;
`python -m workshop.excerpts --write` copies the source into the blocks.
"""

import ast
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from workshop import REPO_ROOT

MARKER = re.compile(
    r"<!-- excerpt: (?P<path>\S+)(?: (?P<symbol>[\w.]+))? -->\n"
    r"(?P<fence>```[\w-]*\n)(?P<body>.*?)^```$",
    re.DOTALL | re.MULTILINE,
)


@dataclass
class Excerpt:
    readme: Path
    path: str
    symbol: str | None
    shown: str
    source: str

    @property
    def stale(self) -> bool:
        return self.shown != self.source

    def __str__(self) -> str:
        where = f"{self.path} {self.symbol}" if self.symbol else self.path
        return f"{self.readme.relative_to(REPO_ROOT)}: excerpt of {where}"


def source_of(file: Path, symbol: str | None) -> str:
    text = file.read_text()
    if symbol is None:
        return text
    nodes = ast.parse(text).body
    node = None
    for name in symbol.split("."):
        node = next((n for n in nodes if defines(n, name)), None)
        if node is None:
            raise LookupError(f"{symbol} not found in {file}")
        nodes = getattr(node, "body", [])
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    lines = text.splitlines(keepends=True)[start - 1 : node.end_lineno]
    return textwrap.dedent("".join(lines))


def defines(node: ast.stmt, name: str) -> bool:
    """A function or class called `name`, or a module-level assignment to it."""
    if isinstance(node, ast.Assign):
        return any(isinstance(target, ast.Name) and target.id == name for target in node.targets)
    return getattr(node, "name", None) == name and hasattr(node, "body")


def excerpts(readme: Path) -> list[Excerpt]:
    found = []
    for match in MARKER.finditer(readme.read_text()):
        source = source_of(readme.parent / match["path"], match["symbol"])
        found.append(Excerpt(readme, match["path"], match["symbol"], match["body"], source))
    return found


def refresh(readme: Path) -> None:
    def replace(match: re.Match) -> str:
        source = source_of(readme.parent / match["path"], match["symbol"])
        return match[0].replace(match["fence"] + match["body"], match["fence"] + source, 1)

    readme.write_text(MARKER.sub(replace, readme.read_text()))


def readmes() -> list[Path]:
    return sorted(REPO_ROOT.glob("stage*/README.md")) + [REPO_ROOT / "README.md"]


def main(argv: list[str]) -> int:
    if "--write" in argv:
        for readme in readmes():
            refresh(readme)
    stale = [excerpt for readme in readmes() for excerpt in excerpts(readme) if excerpt.stale]
    for excerpt in stale:
        print(f"stale: {excerpt}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
