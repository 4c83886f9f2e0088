"""The document tree speaks materials: structures, enums, monty objects, big documents."""

from __future__ import annotations

import re
from html import unescape

import pytest

from s3explore.widgets import DocumentViewer, _objects
from s3explore.widgets._objects import register_renderer
from s3explore.widgets._tree import render_document

pytest.importorskip("pymatgen.core")
from tests.materials._docs import (
    Spin,
    Structure,
    TaskType,
    dos,
    fe2o3_like,
    nacl,
    task_doc,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def squeeze(text: str) -> str:
    return " ".join(text.split())


def test_structure_shows_a_summary_computed_with_pymatgen():
    s = nacl()
    text = squeeze(text_of(render_document({"structure": s.as_dict()})))
    assert "formula NaCl" in text
    assert "space group Fm-3m (225)" in text
    assert f"a b c {s.lattice.a:.4g} {s.lattice.b:.4g} {s.lattice.c:.4g} \u00c5" in text
    assert "\u03b1 \u03b2 \u03b3 90 90 90\u00b0" in text
    assert f"volume {s.volume:.4g}" in text
    assert f"density {float(s.density):.4g} g/cm\u00b3" in text
    assert f"sites {len(s)}" in text
    assert "@module" not in text and "@class" not in text
    assert "matrix" not in text  # no 9-field lattice tree


def test_site_table_has_species_fractional_coords_and_magmom():
    s = fe2o3_like()
    html = render_document({"structure": s.as_dict()})
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    assert len(rows) == 1 + len(s)  # header and one row per site
    first = squeeze(text_of(rows[1]))
    assert first.startswith("Fe 0.0000 0.0000 0.0000") and "magmom=4.1" in first
    assert "magmom=-4.1" in squeeze(text_of(rows[2]))
    assert f"formula {s.composition.reduced_formula}" in squeeze(text_of(html))


def test_without_pymatgen_the_summary_comes_from_the_dict(monkeypatch):
    monkeypatch.setattr(_objects, "_has_pymatgen", lambda: False)
    s = fe2o3_like()
    text = squeeze(text_of(render_document({"structure": s.as_dict()})))
    assert "formula Fe2O3" in text
    assert f"a b c {s.lattice.a:.4g} {s.lattice.b:.4g} {s.lattice.c:.4g}" in text
    assert f"volume {s.volume:.4g}" in text
    assert "space group" not in text and "sites 5" in text


def test_enums_show_as_their_value_on_one_line():
    html = render_document(task_doc())
    text = squeeze(text_of(html))
    assert 'task_type : "Static" TaskType' in text
    assert 'run_type : "GGA" RunType' in text
    assert html.count("task_type") == 1 and "<details" not in html.split("task_type")[1][:200]


def test_at_keys_are_hidden_and_named_in_the_summary():
    doc = {"thing": {"@module": "my.mod", "@class": "Thing", "@version": "1", "size": 3}}
    text = squeeze(text_of(render_document(doc)))
    assert "Thing \u00b7 my.mod" in text and "size : 3" in text
    assert "@version" not in text and "@module" not in text


def test_rebuilt_objects_render_like_their_dicts():
    doc = {"structure": nacl(), "task_type": TaskType.Static}
    text = squeeze(text_of(render_document(doc)))
    assert "space group Fm-3m (225)" in text
    assert 'task_type : "Static" TaskType' in text


def test_every_top_level_field_is_shown_after_a_huge_one():
    big = {f"k{i}": {"x": i, "y": [i, i]} for i in range(20_000)}
    doc = {"a_first": 1, "big": big, "dos": dos().as_dict(), "z_after": "shown"}
    html = render_document(doc)
    text = text_of(html)
    assert "z_after" in text and "a_first" in text and "the rest is not shown" in text
    assert len(html) < 1_000_000


def test_long_number_lists_print_as_one_block():
    html = render_document({"dos": {"energies": list(range(500)), "efermi": 0.5}})
    assert "list int64 \u00b7 shape (500,)" in unescape(html)
    assert html.count("s3x-leaf") == 1  # efermi; the 500 numbers are one <pre>
    assert "[0, 1, 2, \u2026]" in unescape(html)


def test_a_registered_renderer_replaces_the_tree():
    register_renderer("Thing", lambda d: f"<b>size {d['size']}</b>")
    try:
        html = render_document({"t": {"@module": "m", "@class": "Thing", "size": 3}})
        assert "<b>size 3</b>" in html
    finally:
        register_renderer("Thing", None)
    assert "<b>size" not in render_document({"t": {"@module": "m", "@class": "Thing",
                                                   "size": 3}})


def test_viewer_shows_a_structure_stored_in_s3(make_store):
    store = make_store(compress=True, decode_objects=["pymatgen", "emmet.core"])
    doc = task_doc("mp-1", structure=nacl())
    doc["densities"] = {str(Spin.up): [1.0, 2.0]}
    store.update([doc])
    viewer = DocumentViewer(store, "mp-1")
    assert isinstance(viewer.doc["structure"], Structure)
    text = squeeze(text_of(viewer._body.value))
    assert "space group Fm-3m (225)" in text and 'task_type : "Static" TaskType' in text


@pytest.mark.parametrize("sites", [[{"abc": 5}], [{"species": 3, "abc": "x"}], ["Na"]])
def test_a_structure_dict_with_odd_sites_never_raises(sites):
    d = {**nacl().as_dict(), "sites": sites}
    text = squeeze(text_of(render_document({"structure": d})))
    assert "structure" in text and "Structure" in text  # a summary, or the plain tree
