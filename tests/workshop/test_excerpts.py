"""The lessons never lie: code shown in a README is the code in the stage."""

import pytest

from workshop import REPO_ROOT
from workshop.excerpts import excerpts, readmes, source_of

STAGE_READMES = sorted(REPO_ROOT.glob("stage*/README.md"))


@pytest.mark.parametrize("readme", readmes(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_excerpt_matches_its_source(readme):
    stale = [str(excerpt) for excerpt in excerpts(readme) if excerpt.stale]

    assert not stale, "run `python -m workshop.excerpts --write` and reread: " + ", ".join(stale)


@pytest.mark.parametrize("readme", STAGE_READMES, ids=lambda path: path.parent.name)
def test_every_stage_readme_shows_real_code(readme):
    assert excerpts(readme), f"{readme} has no <!-- excerpt: ... --> block"


def test_a_method_is_found_by_its_class_and_dedented(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("class A:\n    @staticmethod\n    def f():\n        return 1\n")

    assert source_of(module, "A.f") == "@staticmethod\ndef f():\n    return 1\n"


def test_a_drifted_excerpt_is_reported_stale(tmp_path):
    (tmp_path / "code.py").write_text("def f():\n    return 2\n")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- excerpt: code.py f -->\n```python\ndef f():\n    return 1\n```\n")

    (excerpt,) = excerpts(readme)

    assert excerpt.stale
