"""A lesson's measuring command writes where git does not look; the committed measurements are
the maintainer's (`make measurements`)."""

import subprocess

from workshop import REPO_ROOT, measurements


def test_a_learners_run_is_written_where_git_ignores_it():
    assert measurements.folder(save=False) == measurements.LOCAL
    probe = measurements.LOCAL / "claims.txt"
    ignored = subprocess.run(
        ["git", "check-ignore", "--quiet", str(probe)], cwd=REPO_ROOT, check=False
    )
    assert ignored.returncode == 0, f"{probe} is not ignored by git"


def test_the_notebooks_read_your_run_else_the_committed_one(tmp_path, monkeypatch):
    monkeypatch.setattr(measurements, "LOCAL", tmp_path)
    assert measurements.latest("bench.csv") == measurements.COMMITTED / "bench.csv"
    (tmp_path / "bench.csv").write_text("yours")
    assert measurements.latest("bench.csv") == tmp_path / "bench.csv"
