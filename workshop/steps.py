"""Stage 5 in steps: from stage 4 to `stage05_scaling/` one idea at a time.

`steps/stage05/NN-name.patch` holds step NN: what it adds and how to see it (the text before the
first `diff --git` line, which `git apply` skips), then its diff from the step before. Step 0 is
stage 4 (its code and its tests, renamed to stage 5's folders); applying every step to it gives
`stage05_scaling/` and `tests/stage05_scaling/` exactly, README.md and docs/ aside (the README's
sections follow the steps, and a table maps each step to its section). `make test` fails when
that is no longer true (a stale step), or when a step changes more than 600 lines of code (tests
aside) and does not say why on a line that starts `Over 600 lines:`.

    python -m workshop.steps show N    step N as a runnable project in .steps/stage05/stepNN/,
                                       with its own database (`make step N=3`)
    python -m workshop.steps test N    show step N and run its tests (`make step-test N=3`)
    python -m workshop.steps diff N    what step N changes (`make diff FROM=5.2 TO=5.3` too)
    python -m workshop.steps edit      the steps as commits of a scratch git repository,
                                       .steps/stage05/repo: change them there (git rebase -i,
                                       git commit --amend), then
    python -m workshop.steps save      write the commits back as patches, the last one into
                                       stage05_scaling/ and tests/stage05_scaling/ (`make steps`)
    python -m workshop.steps check     apply every step to stage 4 and compare with stage 5
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from workshop import REPO_ROOT
from workshop.database import drop_database

BASE, FINAL = "stage04_retries_shutdown", "stage05_scaling"
PATCHES = REPO_ROOT / "steps" / "stage05"
WORK = REPO_ROOT / ".steps" / "stage05"
SCRATCH = WORK / "repo"
LIMIT = 600  # lines of code one step or one stage changes, unless its text says why
NOT_IN_STEPS = {"README.md", "docs", "__pycache__", ".pytest_cache", ".ruff_cache"}
GIT = ["git", "-c", "user.name=workshop", "-c", "user.email=workshop@localhost", "-c",
       "commit.gpgsign=false", "-c", "core.autocrlf=false"]  # fmt: skip


def patches() -> list[Path]:
    return sorted(PATCHES.glob("[0-9][0-9]-*.patch"))


def split(patch_text: str) -> tuple[str, str]:
    """A patch's description (what `git apply` skips) and its diff."""
    start = patch_text.find("diff --git")
    if start == -1:
        return patch_text.strip(), ""
    return patch_text[:start].strip(), patch_text[start:]


def description(patch: Path) -> str:
    return split(patch.read_text())[0]


def says_why_it_is_large(text: str) -> bool:
    """A step's description, or a stage's README, explains its size on a line of its own."""
    return re.search(rf"(?m)^Over {LIMIT} lines:", text) is not None


def changed_lines(patch_text: str) -> int:
    """Lines the step adds or removes in the project's code: its tests aside, as the stage
    diffs (diffs/) leave them aside."""
    count, in_tests = 0, False
    for line in split(patch_text)[1].splitlines():
        if line.startswith("diff --git"):
            in_tests = line.startswith("diff --git a/tests/")
        elif line[:1] in "+-" and not line.startswith(("+++ ", "--- ")) and not in_tests:
            count += 1
    return count


def tree_files(root: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file under `root` a step carries, by its path relative to `root`: its content, and
    whether it is executable (manage.py is)."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not NOT_IN_STEPS & set(relative.parts) and path.suffix != ".pyc":
            found[str(relative)] = (path.read_bytes(), os.access(path, os.X_OK))
    return found


def project_files(root: Path, project: str) -> dict[str, tuple[bytes, bool]]:
    """A project folder and its tests folder, as one tree named like stage 5's."""
    files = {f"{FINAL}/{name}": data for name, data in tree_files(root / project).items()}
    tests = root / "tests" / project
    files |= {f"tests/{FINAL}/{name}": data for name, data in tree_files(tests).items()}
    return files


def write_tree(files: dict[str, tuple[bytes, bool]], root: Path) -> None:
    for name, (data, executable) in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if executable else 0o644)


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"git {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def build(repo: Path) -> None:
    """A git repository with stage 4 as its first commit and one commit per step after it,
    tagged step-00, step-01, ..."""
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=repo)
    write_tree(project_files(REPO_ROOT, BASE), repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "Step 0: stage 4", cwd=repo)
    git("tag", "step-00", cwd=repo)
    for number, patch in enumerate(patches(), start=1):
        applied = subprocess.run(
            [*GIT, "apply", "--index", "--whitespace=nowarn", str(patch)],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
        if applied.returncode:
            raise SystemExit(
                f"{patch.relative_to(REPO_ROOT)} does not apply to the step before it:\n"
                f"{applied.stderr}"
                "Stage 4 or an earlier step changed: edit the steps (python -m workshop.steps"
                " edit), fix this one, and save."
            )
        git("commit", "-q", "--allow-empty", "-m", description(patch), cwd=repo)
        git("tag", f"step-{number:02d}", cwd=repo)


def problems() -> list[str]:
    """What is wrong with the steps: a step that no longer applies, a difference between the
    last step and stage 5, a step over the size limit that does not say why."""
    found = []
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch) / "repo"
        try:
            build(repo)
        except SystemExit as error:
            return [str(error)]
        built = project_files(repo, FINAL)
    final = project_files(REPO_ROOT, FINAL)
    for name in sorted(built.keys() | final.keys()):
        if name not in final:
            found.append(f"{name}: in the last step, not in {FINAL}")
        elif name not in built:
            found.append(f"{name}: in {FINAL}, not in the last step")
        elif built[name] != final[name]:
            found.append(f"{name}: differs between the last step and {FINAL}")
    for patch in patches():
        size = changed_lines(patch.read_text())
        if size > LIMIT and not says_why_it_is_large(description(patch)):
            found.append(
                f"{patch.name}: {size} lines changed, over {LIMIT}, and no 'Over 600 lines:' line"
            )
    if any(f": in {FINAL}" in line or "last step" in line for line in found):
        found.append(
            "stage 5 changed without its steps: `python -m workshop.steps edit`, make the change"
            " in the step it belongs to, then `python -m workshop.steps save`"
        )
    return found


def save(repo: Path = SCRATCH) -> None:
    """Write the scratch repository's commits back as patches, and its last commit into the
    stage's folders."""
    commits = git("rev-list", "--reverse", "step-00..HEAD", cwd=repo).split()
    if not commits:
        raise SystemExit(f"{repo} has no step after stage 4")
    # Everything is read from git before anything is written: a save cut short (Ctrl-C, a
    # closed pipe) leaves the old patches, never half of the new ones.
    written, previous = {}, git("rev-parse", "step-00", cwd=repo).strip()
    for number, commit in enumerate(commits, start=1):
        message = git("log", "-1", "--format=%B", commit, cwd=repo).strip()
        message = re.sub(r"^Step \d+:", f"Step {number}:", message)  # a step inserted or moved
        # "Step 4: enqueue over HTTP, tokens, ..." is 04-enqueue-over-http.patch
        title = message.splitlines()[0].split(":", 1)[-1].split(",")[0]
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        diff = git("diff", "--binary", "--no-renames", previous, commit, cwd=repo)
        written[PATCHES / f"{number:02d}-{slug}.patch"] = f"{message}\n\n{diff}"
        previous = commit
    final = project_files(repo, FINAL)
    for old in patches():
        old.unlink()
    PATCHES.mkdir(parents=True, exist_ok=True)
    for path, text in written.items():
        path.write_text(text)
    for folder in (REPO_ROOT / FINAL, REPO_ROOT / "tests" / FINAL):
        for name in tree_files(folder):
            (folder / name).unlink()
    write_tree(final, REPO_ROOT)
    for path, text in written.items():
        print(f"wrote {path.relative_to(REPO_ROOT)} ({changed_lines(text)} lines changed)")
    print(f"wrote the last step into {FINAL}/ and tests/{FINAL}/")


def show(number: int) -> Path:
    """Step `number` as a project of its own: .steps/stage05/stepNN/stage05_stepNN/, with its
    tests in .steps/stage05/stepNN/tests/stage05_stepNN/. The folder's name is the database's."""
    count = len(patches())
    if not 0 <= number <= count:
        raise SystemExit(f"no step {number}: stage 5 has steps 1 to {count}")
    repo = WORK / "show"
    build(repo)
    git("checkout", "-q", f"step-{number:02d}", cwd=repo)
    name = f"stage05_step{number:02d}"
    target = WORK / f"step{number:02d}"
    shutil.rmtree(target, ignore_errors=True)
    files = project_files(repo, FINAL)
    write_tree(
        {path.replace(FINAL, name, 1) if path.startswith(FINAL) else
         path.replace(f"tests/{FINAL}", f"tests/{name}", 1): data
         for path, data in files.items()},
        target,
    )  # fmt: skip
    ini = target / "tests" / name / "pytest.ini"
    ini.write_text(ini.read_text().replace(f"../../{FINAL}", f"../../{name}"))
    return target / name


def run_tests(number: int, *names: str, pytest_args: Sequence[str] = ()) -> int:
    """Show step `number` and run its tests: all of them, or the test files `names`."""
    project = show(number)
    tests = project.parent / "tests" / project.name
    chosen = [str(tests / name) for name in names] or [str(tests)]
    command = [
        sys.executable, "-m", "pytest", "-c", str(tests / "pytest.ini"), *chosen, "-q",
        *pytest_args,
    ]  # fmt: skip
    # The step's own settings and database, whatever the caller's environment says.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "WORKSHOP_DB_NAME")
    }
    return subprocess.call([*command, "-p", "no:cacheprovider"], cwd=project.parent, env=env)


TOP_LEVEL_DEF = re.compile(r"^(?:async )?(def|class) (\w+)")


def tests_changed(number: int) -> dict[str, set[str] | None]:
    """Each test file step `number` adds or changes, with the test functions it adds or edits,
    or None for the whole file (a new file, or a changed fixture or helper that any of its
    tests may use). Imports and other module-level lines do not count as a test's change."""
    text = step_diff(number)
    prefix = f"tests/{FINAL}/"
    found: dict[str, set[str] | None] = {}
    for section in re.split(r"(?m)^(?=diff --git )", text):
        target = re.search(r"(?m)^\+\+\+ b/(\S+)$", section)
        if not target or not target.group(1).startswith(prefix):
            continue
        name = target.group(1).removeprefix(prefix)
        if not name.rsplit("/", 1)[-1].startswith("test_"):
            continue
        if re.search(r"(?m)^--- /dev/null$", section):
            found[name] = None
            continue
        found[name] = changed_functions(section)  # a patch has one section per file
    return found


def changed_functions(section: str) -> set[str] | None:
    """The top-level test functions a file's diff section adds or edits; None when it edits a
    fixture, a helper or a class (then the whole file is the step's)."""
    tests: set[str] = set()
    current, decorated = None, False
    for line in section.splitlines():
        if line.startswith("@@"):
            context = line.split("@@", 2)[-1].strip()
            header = TOP_LEVEL_DEF.match(context)
            current = (header.group(1), header.group(2)) if header else None
            if header and "(" not in context:
                # git cuts this context at 80 characters: a long test's name may be cut short,
                # and pytest would find no such test. The whole file is the step's, then.
                current = ("cut", header.group(2))
            decorated = False
            continue
        if line.startswith(("+++", "---")) or line[:1] not in (" ", "+", "-"):
            continue
        sign, body = line[0], line[1:]
        match = TOP_LEVEL_DEF.match(body)
        if match and sign != "-":
            current = (match.group(1), match.group(2))
            if decorated:  # a changed decorator belongs to the function below it
                if not mark(tests, current):
                    return None
                decorated = False
            if sign == "+" and not mark(tests, current):
                return None
            continue
        if sign == " " or not body.strip():
            continue
        if body.startswith("@"):
            decorated = True
        elif body[:1] not in (" ", "\t", ")", "]", "}"):
            continue  # an import, a constant, a comment: module level, no test's change
        elif current is None or not mark(tests, current):
            return None
    return tests


def mark(tests: set[str], function: tuple[str, str]) -> bool:
    kind, name = function
    if kind != "def" or not name.startswith("test"):
        return False
    tests.add(name)
    return True


def test_ids(number: int) -> list[str]:
    """What step `number`'s own tests are: pytest ids, a whole file or one test function."""
    return [
        name if tests is None else f"{name}::{test}"
        for name, tests in sorted(tests_changed(number).items())
        for test in ([None] if tests is None else sorted(tests))
    ]


def step_diff(number: int) -> str:
    return split(patches()[number - 1].read_text())[1]


def main(argv: list[str]) -> int:
    command, *rest = argv or ["help"]
    if command == "show" and len(rest) == 1:
        number = int(rest[0])
        project = show(number)
        # The step's database goes with its folder: a step made again starts from an empty
        # database, whatever an earlier version of the step migrated into it.
        drop_database(project.name)
        text = description(patches()[number - 1]) if number else "Step 0: stage 4"
        print(f"{text}\n\nThe step, with a database of its own, empty ({project.name}).")
        print("Made afresh each time: a shell already in its folder must cd into it again.\n")
        print(f"cd {project.relative_to(REPO_ROOT)}")
        print("source ../../../../.venv/bin/activate")
        print("python manage.py migrate")
        return 0
    if command == "test" and rest:
        return run_tests(int(rest[0]), *rest[1:])
    if command == "diff" and len(rest) == 1:
        sys.stdout.write(step_diff(int(rest[0])))
        return 0
    if command == "edit":
        build(SCRATCH)
        print(
            f"{SCRATCH.relative_to(REPO_ROOT)}: one commit per step (tags step-00 to "
            f"step-{len(patches()):02d}); change them, then python -m workshop.steps save"
        )
        return 0
    if command == "save":
        save()
        return 0
    if command == "check":
        found = problems()
        print("\n".join(found) if found else f"{len(patches())} steps, the last one is {FINAL}")
        return 1 if found else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
