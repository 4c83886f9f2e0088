"""The notebooks: stripped in git, and each one runs top to bottom on the demo store.

They run with nbclient in a fresh kernel that is this interpreter (``s3explore._cli``
resolves ipykernel's built-in ``python3`` spec, whatever kernelspecs are installed), in a
temporary working directory, exactly as ``s3explore demo --check`` runs them.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from s3explore._cli import find_notebooks, run_notebook

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
EXPECTED = ["01-tour.ipynb", "02-dataframes.ipynb", "03-bulk-upload.ipynb",
            "04-scale-out.ipynb", "05-open-data.ipynb", "06-materials.ipynb"]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_the_notebooks_are_there():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == EXPECTED
    assert find_notebooks() == NOTEBOOKS


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_stripped(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    assert "widgets" not in notebook.metadata, "saved widget state: strip it before committing"
    for index, cell in enumerate(notebook.cells):
        assert "execution" not in cell.metadata, f"cell {index} keeps execution timings"
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} of {name} has outputs: strip them"
            assert cell.execution_count is None, f"cell {index} of {name} has a count"


def outputs(notebook) -> list[dict]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def text_of(notebook) -> str:
    parts = []
    for output in outputs(notebook):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed():
    """Each notebook executed once per test session, on first use."""
    results = {}

    def run(name: str):
        if name not in results:
            results[name] = run_notebook(NOTEBOOKS / name, timeout=300)
        return results[name]

    return run


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_top_to_bottom(executed, name):
    result = executed(name)
    assert result.ok, f"{name}: {result.error}"
    errors = [o for o in outputs(result.notebook) if o.output_type == "error"]
    assert errors == []


def test_tour_shows_the_widgets_and_a_document(executed):
    notebook = executed("01-tour.ipynb").notebook
    views = [o for o in outputs(notebook) if WIDGET_VIEW in o.get("data", {})]
    assert len(views) >= 2  # the browser and the viewer
    text = text_of(notebook)
    assert "(2000, " in text  # store.count() on the default demo store
    assert "lattice matrix" in text


def test_dataframes_notebook_draws_its_plots(executed):
    notebook = executed("02-dataframes.ipynb").notebook
    images = [o for o in outputs(notebook) if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the distributions and the densities of states


def test_upload_notebook_ends_with_index_and_bucket_in_agreement(executed):
    text = text_of(executed("03-bulk-upload.ipynb").notebook)
    assert "500 written" in text
    assert "objects without index entry: 1" in text
    assert "index entries without object: 1" in text
    assert text.rstrip().endswith("index and bucket agree")


def test_materials_notebook_reads_structures_back_and_computes_their_columns(executed):
    pytest.importorskip("pymatgen.core")
    notebook = executed("06-materials.ipynb").notebook
    text = text_of(notebook)
    assert "6 written" in text and "decoded:   Structure CompleteDos" in text
    assert "Fm-3m" in text and "P6_3mc" in text  # space groups from the recipes
    html = [o.data["text/html"] for o in outputs(notebook) if "text/html" in o.get("data", {})]
    assert any("space group" in h and "Pm-3m" in h for h in html)  # the structure summary
    assert any(WIDGET_VIEW in o.get("data", {}) for o in outputs(notebook))  # the viewer


def test_materials_notebook_runs_without_pymatgen(tmp_path):
    notebook = nbformat.read(NOTEBOOKS / "06-materials.ipynb", as_version=4)
    hide = nbformat.v4.new_code_cell('import sys\nsys.modules["pymatgen"] = None  # not importable')
    hide.id = "hide-pymatgen"
    notebook.cells.insert(0, hide)
    nbformat.write(notebook, tmp_path / "06-materials.ipynb")
    result = run_notebook(tmp_path / "06-materials.ipynb", timeout=300)
    assert result.ok, result.error
    assert "pymatgen is not installed" in text_of(result.notebook)
