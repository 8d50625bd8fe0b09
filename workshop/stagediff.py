"""The diff between two stages' code: the lesson of the later stage, and nothing else.

    python -m workshop.stagediff 2 3        print it (`make diff FROM=2 TO=3`)
    python -m workshop.stagediff 5.2 5.3    two of stage 5's steps (workshop/steps.py)
    python -m workshop.stagediff --write    refresh diffs/stageNN_to_stageMM.diff for each pair

The READMEs are left out (prose, not code), and between stages `lab/` too (the workshop's
instruments); between stage 5's steps it stays in, since step 13 is the lab. The test suite
fails when a committed diff is stale.
"""

import difflib
import re
import sys
from pathlib import Path

from workshop import REPO_ROOT

DIFFS = REPO_ROOT / "diffs"
SKIP_NAMES = {
    "README.md",
    "__pycache__",
    "docs",
    "lab",
}  # prose, pictures, instruments: not the lesson
# Between two of stage 5's steps the lab stays in: step 13 is the lab, and the steps' sizes
# (workshop/steps.py) count it.
STEP_SKIP_NAMES = SKIP_NAMES - {"lab"}


def stages() -> list[Path]:
    return sorted(path for path in REPO_ROOT.glob("stage[0-9][0-9]_*") if path.is_dir())


def stage(number: int | str) -> Path:
    """A stage's folder; "5.3" is stage 5's step 3, written out by workshop.steps."""
    if "." in str(number):
        from workshop import steps

        major, step = str(number).split(".")
        if int(major) != 5:
            raise SystemExit("only stage 5 has steps: 5.1, 5.2, ...")
        return steps.show(int(step))
    prefix = f"stage{int(number):02d}_"
    for path in stages():
        if path.name.startswith(prefix):
            return path
    raise SystemExit(f"no stage {number}: there are {', '.join(p.name for p in stages())}")


def files(root: Path, skip: set[str] = SKIP_NAMES) -> set[str]:
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not skip & set(path.relative_to(root).parts) and path.suffix != ".pyc"
    }


def diff(old: Path, new: Path, skip: set[str] = SKIP_NAMES) -> str:
    chunks = []
    for name in sorted(files(old, skip) | files(new, skip)):
        before = (old / name).read_text().splitlines(keepends=True) if (old / name).exists() else []
        after = (new / name).read_text().splitlines(keepends=True) if (new / name).exists() else []
        # /dev/null names the missing side of an added or removed file, as `diff -N` does.
        old_label = f"{old.name}/{name}" if (old / name).exists() else "/dev/null"
        new_label = f"{new.name}/{name}" if (new / name).exists() else "/dev/null"
        lines = list(difflib.unified_diff(before, after, old_label, new_label))
        if not lines and "/dev/null" in (old_label, new_label):
            # An empty file added or removed (an __init__.py) has no lines to show: its header
            # still says it is there.
            lines = [f"--- {old_label}\n", f"+++ {new_label}\n"]
        chunks.extend(lines)
    return "".join(chunks)


def changed_lines(diff_text: str) -> int:
    """Lines a stage diff adds or removes, its file headers aside."""
    header = re.compile(r"(---|\+\+\+) (stage\d\d_|/dev/null)")
    return sum(1 for line in diff_text.splitlines() if line[:1] in "+-" and not header.match(line))


def pairs() -> list[tuple[Path, Path, Path]]:
    """(older stage, newer stage, committed diff file) for each consecutive pair."""
    ordered = stages()
    return [
        (old, new, DIFFS / f"{old.name.split('_')[0]}_to_{new.name.split('_')[0]}.diff")
        for old, new in zip(ordered, ordered[1:], strict=False)
    ]


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        DIFFS.mkdir(exist_ok=True)
        for old, new, path in pairs():
            path.write_text(diff(old, new))
            print(f"wrote {path.relative_to(REPO_ROOT)}")
        return 0
    if len(argv) != 2:
        print(__doc__)
        return 2
    skip = STEP_SKIP_NAMES if any("." in arg for arg in argv) else SKIP_NAMES
    sys.stdout.write(diff(stage(argv[0]), stage(argv[1]), skip))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
