"""A file that two neighbouring stages share stays the same in both (workshop/copies.py)."""

from workshop import copies


def test_every_listed_copy_is_the_same_in_both_stages_and_every_copy_is_listed():
    assert copies.problems() == [], (
        "fix the copy that is behind, or change diffs/same_files.txt (see workshop/copies.py)"
    )


def test_a_copy_that_drifted_is_reported(tmp_path, monkeypatch):
    old, new = tmp_path / "stage01_a", tmp_path / "stage02_b"
    for stage in (old, new):
        stage.mkdir()
        (stage / "manage.py").write_text("same\n")
    (old / "models.py").write_text("fixed\n")
    (new / "models.py").write_text("not yet\n")
    monkeypatch.setattr(copies, "pairs", lambda: [(old, new, None)])
    monkeypatch.setattr(copies, "LIST", tmp_path / "same_files.txt")
    copies.LIST.write_text("stage01_a -> stage02_b: models.py\n")

    assert copies.problems() == [
        "differ, but listed as the same: stage01_a -> stage02_b: models.py",
        "the same, but not listed: stage01_a -> stage02_b: manage.py",
    ]
