"""Every notebook runs top to bottom in a fresh kernel, and is committed without outputs (so a
diff shows the lesson, not the last run's numbers and pictures)."""

import nbformat
import pytest
from nbclient import NotebookClient

from workshop import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_runs_top_to_bottom(path):
    notebook = nbformat.read(path, as_version=4)

    # Raises CellExecutionError, with the failing cell and its traceback, if any cell fails.
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    ).execute()

    images = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    plots_expected = sum("plt.show()" in cell.source for cell in notebook.cells)
    assert len(images) == plots_expected  # every plot was drawn


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)

    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"cells {dirty} have outputs: run `make notebooks-clean`"
