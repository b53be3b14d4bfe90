"""The tutorial notebooks in ``notebooks/`` run top to bottom and show what they promise.

Each notebook is executed with nbclient in a fresh ipykernel of *this* Python (the test
installs a ``python3`` kernelspec for ``sys.executable`` into a temporary folder and puts it
first on ``JUPYTER_PATH``), with the notebooks folder as working directory. The notebooks are
stored without outputs (clear them before committing).
"""

import json
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["event_based_snn.ipynb", "ttfs.ipynb", "event_prop.ipynb"]
CELL_TIMEOUT_S = 300


@pytest.fixture
def kernel_name(tmp_path, monkeypatch):
    """A ``python3`` kernelspec that starts ``sys.executable``, found before any other."""
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager

    prefix = tmp_path / "jupyter"
    install(kernel_name="python3", prefix=str(prefix))
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert spec.argv[0] == sys.executable, spec.argv
    return "python3"


def stream_text(nb) -> str:
    """Everything the notebook printed (stdout and stderr of every code cell)."""
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )


def image_count(nb) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, kernel_name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError, with the cell's traceback, if a cell fails
    assert image_count(nb) >= 1, f"{name} drew no figure"
    if name == "event_prop.ipynb":
        text = stream_text(nb)
        match = re.search(r"agreement: max relative difference (\S+) ", text)
        assert match, f"no agreement line in the output of {name}:\n{text}"
        assert float(match.group(1)) <= 1e-6, match.group(0)
        assert "agreement: within 1e-6" in text


def test_notebooks_are_stored_clean():
    """Stored without outputs or execution counts, kernel ``python3``: a diff shows the
    teaching, not a run's figures."""
    for name in NAMES:
        stored = json.loads((NOTEBOOKS / name).read_text())
        assert stored["metadata"]["kernelspec"]["name"] == "python3", name
        code = [cell for cell in stored["cells"] if cell["cell_type"] == "code"]
        assert code, name
        for cell in code:
            assert cell["outputs"] == [] and cell["execution_count"] is None, name
