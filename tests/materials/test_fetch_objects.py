"""query_df(fetch=...) on materials objects: no @-columns, derived columns and recipes."""

from __future__ import annotations

import pytest
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from s3explore._errors import ConfigurationError
from tests.materials._docs import Structure, fe2o3_like, nacl, task_doc

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def materials(make_store):
    store = make_store(compress=True, searchable_fields=["formula"])
    store.update([task_doc("mp-1", fe2o3_like()), task_doc("mp-2", nacl())])
    return store


def test_fetching_an_object_gives_one_column_never_at_keys(materials):
    df = materials.query_df(fetch=["structure", "task_type"], sort={"task_id": 1})
    assert not [c for c in df.columns if "@" in c]
    assert list(df.columns) == ["task_id", "formula", "structure", "task_type"]
    assert Structure.from_dict(df["structure"][1]) == nacl()
    assert df["task_type"][0]["value"] == "Static"


def test_fetch_gives_objects_when_the_store_decodes_them(make_store, materials):
    store = make_store(index=materials.index, decode_objects=["pymatgen"])
    df = store.query_df(fetch=["structure"], sort={"task_id": 1})
    assert [type(s) for s in df["structure"]] == [Structure, Structure]
    assert df["structure"][0] == fe2o3_like()


def test_recipes_match_what_pymatgen_computes(materials):
    recipes = ["formula", "spacegroup", "spacegroup_number", "crystal_system", "density",
               "volume", "nsites"]
    df = materials.query_df(fetch={r: ("structure", r) for r in recipes},
                            sort={"task_id": 1})
    for row, structure in zip(df.itertuples(), [fe2o3_like(), nacl()], strict=True):
        sga = SpacegroupAnalyzer(structure)
        assert row.formula == structure.composition.reduced_formula
        assert row.spacegroup == sga.get_space_group_symbol()
        assert row.spacegroup_number == sga.get_space_group_number()
        assert row.crystal_system == sga.get_crystal_system()
        assert row.density == pytest.approx(float(structure.density))
        assert row.volume == pytest.approx(structure.volume)
        assert row.nsites == len(structure)
    assert df["spacegroup"][1] == "Fm-3m" and df["formula"].tolist() == ["Fe2O3", "NaCl"]


@pytest.mark.slow
def test_functions_of_values_and_of_documents(materials):
    df = materials.query_df(fetch={
        "a": ("structure", lambda s: s["lattice"]["matrix"][0][0]),
        "n_energies": lambda doc: len(doc["energies"]),
        "missing": ("no.such.path", len),
    }, sort={"task_id": 1})
    assert df["a"].tolist() == pytest.approx([fe2o3_like().lattice.matrix[0][0], 5.64])
    assert df["n_energies"].tolist() == [5, 5]
    assert df["missing"].isna().all()


def test_a_failing_function_names_column_and_key(materials):
    with pytest.raises(ZeroDivisionError) as info:
        materials.query_df(fetch={"bad": lambda doc: 1 / 0})
    assert any("'bad'" in note and "'mp-" in note for note in info.value.__notes__)


def test_bad_fetch_specs_are_configuration_errors(materials):
    with pytest.raises(ConfigurationError, match="recipe 'spacegroupp'.*spacegroup"):
        materials.query_df(fetch={"sg": ("structure", "spacegroupp")})
    with pytest.raises(ConfigurationError, match="neither a function"):
        materials.query_df(fetch={"sg": "structure"})
