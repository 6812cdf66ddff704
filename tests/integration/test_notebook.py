"""notebooks/quickstart.ipynb executes cell by cell (nbclient, a real kernel) after the demo."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def test_the_quickstart_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def test_the_quickstart_notebook_runs_every_cell(demo_project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FEATURELAKE_CONF", str(demo_project.conf))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, when a cell fails
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    shown = "".join(str(out.get("text", "")) + str(out.get("data", {})) for cell in code for out in cell.outputs)
    assert "user_orders" in shown and "float32" in shown and "Data Docs index" in shown
