"""to_dask(fetch=...) with derived columns (functions, structure recipes) on a LocalCluster of
2 worker processes, checked against what pymatgen computes from the structures directly."""

from __future__ import annotations

import functools
import os

import pandas as pd
import pytest

from s3explore import ConfigurationError
from tests.dask.conftest import build_collection
from tests.materials._docs import Lattice, Structure, fe2o3_like

distributed = pytest.importorskip("distributed")
SpacegroupAnalyzer = pytest.importorskip("pymatgen.symmetry.analyzer").SpacegroupAnalyzer
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SIZE = 60
RECIPES = ["formula", "spacegroup", "spacegroup_number", "crystal_system", "density",
           "volume", "nsites"]


@functools.cache
def _orbits(symbol: str, species: tuple, coords: tuple) -> tuple[list, list]:
    # Structure.from_spacegroup spends 0.3 s on the group's operations; the sites it makes
    # (fractional) are the same for every cubic lattice, so each group is asked once.
    built = Structure.from_spacegroup(symbol, Lattice.cubic(5.0), list(species),
                                      [list(c) for c in coords])
    return built.species, built.frac_coords.tolist()


def cubic(symbol: str, a: float, species: tuple, coords: tuple) -> Structure:
    """``Structure.from_spacegroup(symbol, Lattice.cubic(a), species, coords)``."""
    sites, frac_coords = _orbits(symbol, species, coords)
    return Structure(Lattice.cubic(a), sites, frac_coords)


def structure(i: int) -> Structure | None:
    """Five kinds of crystal, lattices scaled by ``i``; every 7th document has none."""
    if i % 7 == 3:
        return None
    a = 4.0 + i / 100
    kind = i % 5
    if kind == 0:
        return cubic("Fm-3m", a + 1.6, ("Na", "Cl"), ((0, 0, 0), (0.5, 0.5, 0.5)))
    if kind == 1:
        return cubic("Pm-3m", a, ("Cs", "Cl"), ((0, 0, 0), (0.5, 0.5, 0.5)))
    if kind == 2:
        return cubic("Pm-3m", a - 0.1, ("Sr", "Ti", "O"),
                     ((0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)))
    if kind == 3:
        return Structure(Lattice.hexagonal(a - 0.8, a + 1.2), ["Zn", "O"],
                         [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.38]])
    return fe2o3_like()


def material(i: int) -> dict:
    doc = {"task_id": f"mp-{i:05d}", "group": i % 3, "energies": [i / 10] * (i % 4 + 1)}
    built = structure(i)
    if built is not None:
        doc["structure"] = built.as_dict()
    return doc


@pytest.fixture(scope="module")
def collection(dask_s3, tmp_path_factory):
    return build_collection(dask_s3, tmp_path_factory.mktemp("derived-index"), SIZE,
                            [material(i) for i in range(SIZE)], ["group"])


@pytest.fixture
def store(collection):
    store = collection.store()
    yield store
    store.close()


def expected() -> pd.DataFrame:
    """The recipes' values, computed with pymatgen on the structures as built."""
    rows = []
    for i in range(SIZE):
        s = structure(i)
        if s is None:
            rows.append(dict.fromkeys(RECIPES))
            continue
        sga = SpacegroupAnalyzer(s)
        rows.append({"formula": s.composition.reduced_formula,
                     "spacegroup": sga.get_space_group_symbol(),
                     "spacegroup_number": sga.get_space_group_number(),
                     "crystal_system": sga.get_crystal_system(),
                     "density": float(s.density), "volume": s.volume, "nsites": len(s)})
    return pd.DataFrame(rows)


def values(column: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in column]


def test_recipes_run_on_the_workers_and_match_pymatgen(cluster, store):
    fetch = {r: ("structure", r) for r in RECIPES}
    frame = store.to_dask(fetch=fetch)
    assert frame.npartitions >= 2  # sized for the cluster's threads
    got = frame.compute()
    assert got.dtypes.to_dict() == frame.dtypes.to_dict()  # the meta is what partitions give
    assert str(got["spacegroup_number"].dtype) == "Int64"  # a structure-less row is null
    assert str(got["density"].dtype) == "float64"
    want = expected()
    assert got["task_id"].tolist() == [f"mp-{i:05d}" for i in range(SIZE)]
    for name in ["formula", "spacegroup", "crystal_system", "spacegroup_number", "nsites"]:
        assert values(got[name]) == values(want[name]), name
    for name in ["density", "volume"]:
        pd.testing.assert_series_equal(got[name], want[name].astype(float), check_names=False,
                                       rtol=1e-9)
    assert {"Fm-3m", "Pm-3m"} <= set(got["spacegroup"].dropna())
    pd.testing.assert_frame_equal(got, store.query_df(fetch=fetch, sort={"task_id": 1}),
                                  check_dtype=False)


def test_functions_run_in_the_worker_processes_never_here(cluster, store):
    here = os.getpid()

    def pid(doc):
        assert os.getpid() != here, "a fetch function ran in the client process"
        return os.getpid()

    got = store.to_dask(fetch={"pid": pid, "n": lambda doc: len(doc["energies"]),
                               "a": ("structure", lambda s: s["lattice"]["a"])}).compute()
    workers = set(cluster.run(os.getpid).values())
    assert set(got["pid"]) <= workers and here not in workers
    assert got["n"].tolist() == [i % 4 + 1 for i in range(SIZE)]
    want = [None if structure(i) is None else structure(i).lattice.a for i in range(SIZE)]
    assert [None if pd.isna(v) else pytest.approx(v) for v in got["a"]] == want


def test_decoded_objects_reach_functions_and_recipes(cluster, collection):
    store = collection.store(decode_objects=["pymatgen"])
    try:
        frame = store.to_dask({"group": 0}, fetch={
            "structure": True, "cls": ("structure", lambda s: type(s).__name__),
            "formula": ("structure", "formula")})
        got = frame.compute()
    finally:
        store.close()
    kept = [i for i in range(SIZE) if i % 3 == 0]
    assert values(got["cls"]) == [None if structure(i) is None else "Structure" for i in kept]
    for value, i in zip(got["structure"], kept, strict=True):
        assert (value is None and structure(i) is None) or value == structure(i)
    assert got["formula"].dropna().tolist() == [
        structure(i).composition.reduced_formula for i in kept if structure(i) is not None]


def test_a_failing_function_names_the_document_from_the_worker(cluster, store):
    def fails_late(doc):
        if doc["task_id"] == "mp-00057":
            raise ValueError("no good")
        return 1

    frame = store.to_dask(fetch={"late": fails_late})  # the sample (first partition) passes
    with pytest.raises(ValueError, match="no good") as info:
        frame.compute()
    assert info.value.s3explore_key == "mp-00057"
    assert any("'late'" in note and "'mp-00057'" in note for note in info.value.__notes__)
    with pytest.raises(ZeroDivisionError) as info:
        store.to_dask(fetch={"bad": lambda doc: 1 / 0})  # fails in the sample task
    assert info.value.s3explore_key == "mp-00000"


def test_bad_fetch_specs_fail_before_any_task(cluster, store):
    with pytest.raises(ConfigurationError, match="recipe 'spacegroupp'"):
        store.to_dask(fetch={"sg": ("structure", "spacegroupp")})
    with pytest.raises(ConfigurationError, match="neither a function"):
        store.to_dask(fetch={"sg": "structure"})
    with pytest.raises(ConfigurationError, match="fetch= reads fields from the S3 objects"):
        store.index.to_dask(fetch={"n": len})
