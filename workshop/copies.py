"""Files that are the same in two neighbouring stages, and must stay the same.

Each stage is complete on its own, so a file a stage does not change is a copy of the one before
(`manage.py`, a migration, the `requeue` command). A fix made in one copy only would leave the
stages disagreeing without anyone noticing: `diffs/same_files.txt` lists every such copy, and
`make test` fails when a listed copy differs (fix both, or take the line out because the later
stage now changes the file on purpose) or when two copies are the same but not listed.

    python -m workshop.copies            check, and print what is wrong
    python -m workshop.copies --write    list the copies not listed yet (`make diffs` runs it);
                                         it never removes a line: that is a decision
"""

import sys
from pathlib import Path

from workshop import REPO_ROOT
from workshop.stagediff import files, pairs

LIST = REPO_ROOT / "diffs" / "same_files.txt"
HEADER = """\
# Files that are the same in two neighbouring stages (see workshop/copies.py). `make test`
# fails when a listed pair differs: fix both copies, or remove the line if the later stage now
# changes the file on purpose. `make diffs` adds copies that are new.
"""


def line(old: Path, new: Path, name: str) -> str:
    return f"{old.name} -> {new.name}: {name}"


def same_now() -> set[str]:
    """Every file that is byte for byte the same in two neighbouring stages."""
    return {
        line(old, new, name)
        for old, new, _ in pairs()
        for name in files(old) & files(new)
        if (old / name).read_bytes() == (new / name).read_bytes()
    }


def listed() -> set[str]:
    if not LIST.exists():
        return set()
    return {
        text.strip() for text in LIST.read_text().splitlines() if text.strip()[:1] not in ("", "#")
    }


def problems() -> list[str]:
    same, wanted = same_now(), listed()
    return [f"differ, but listed as the same: {entry}" for entry in sorted(wanted - same)] + [
        f"the same, but not listed: {entry}" for entry in sorted(same - wanted)
    ]


def write() -> None:
    LIST.write_text(HEADER + "".join(f"{entry}\n" for entry in sorted(listed() | same_now())))
    print(f"wrote {LIST.relative_to(REPO_ROOT)}")


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        write()
        return 0
    for problem in problems():
        print(problem)
    return 1 if problems() else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
