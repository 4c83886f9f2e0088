"""decode_objects: monty objects rebuilt from the allowed modules only, over a real S3."""

from __future__ import annotations

import numpy as np
import pytest

from s3explore import S3Store
from s3explore._errors import ConfigurationError, CorruptObjectError
from tests.materials._docs import RunType, Structure, TaskType, fe2o3_like, task_doc

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_default_decodes_nothing_named_in_the_data(make_store):
    store = make_store(compress=True)
    store.update([task_doc()])
    doc = store.get("mp-1")
    assert isinstance(doc["structure"], dict)
    assert doc["structure"]["@class"] == "Structure"
    assert doc["task_type"]["value"] == "Static"
    assert isinstance(doc["energies"], np.ndarray)  # the built-in tags still decode


@pytest.mark.slow
def test_allowed_prefixes_rebuild_structures_and_enums(make_store):
    store = make_store(compress=True, decode_objects=["pymatgen", "emmet.core"])
    store.update([task_doc("mp-1"), task_doc("mp-2")])
    doc = store.get("mp-1")
    assert isinstance(doc["structure"], Structure)
    assert doc["structure"] == fe2o3_like()
    assert doc["structure"].site_properties["magmom"] == [4.1, -4.1, 0.0, 0.1, 0.0]
    assert doc["task_type"] is TaskType.Static and doc["run_type"] is RunType.GGA
    assert type(doc["dos"]).__name__ == "Dos"
    np.testing.assert_allclose(doc["dos"].energies, np.linspace(-5, 5, 50))
    docs = list(store.query({}, sort={"task_id": 1}))
    assert [type(d["structure"]) for d in docs] == [Structure, Structure]
    many = list(store.get_many(["mp-2", "mp-1"]))
    assert [d["task_id"] for d in many] == ["mp-2", "mp-1"]
    assert isinstance(many[0]["structure"], Structure)


def test_only_the_named_prefixes_are_rebuilt(make_store):
    store = make_store(decode_objects=["emmet.core"])
    store.update([task_doc()])
    doc = store.get("mp-1")
    assert doc["task_type"] is TaskType.Static
    assert isinstance(doc["structure"], dict)  # pymatgen is not allowed


def test_per_call_decode_objects_overrides_the_store(make_store):
    store = make_store()
    store.update([task_doc()])
    assert isinstance(store.get("mp-1", decode_objects=["pymatgen"])["structure"], Structure)
    [doc] = store.query({"task_id": "mp-1"}, properties=["structure"],
                        decode_objects=["pymatgen"])
    assert isinstance(doc["structure"], Structure)
    [doc] = store.get_many(["mp-1"], decode_objects=["pymatgen"])
    assert isinstance(doc["structure"], Structure)
    decoding = make_store(decode_objects=["pymatgen"])
    assert isinstance(decoding.get("mp-1", decode_objects=False)["structure"], dict)


def test_an_object_naming_a_module_not_allowed_stays_a_dict(make_store):
    store = make_store(decode_objects=["pymatgen"])
    structure = fe2o3_like().as_dict()
    structure["properties"] = {"origin": {"@module": "os", "@class": "system", "arg": "x"}}
    lattice = fe2o3_like().lattice
    bundle = {"origin": {"@module": "os", "@class": "system"}, "lattice": lattice.as_dict()}
    store.update([{"task_id": "k", "structure": structure, "bundle": bundle}])
    doc = store.get("k")
    assert isinstance(doc["structure"], dict)  # os is not allowed: nothing imported
    assert doc["structure"]["properties"]["origin"]["@module"] == "os"
    # the allowed objects beside a foreign one are still rebuilt
    assert doc["bundle"]["lattice"] == lattice
    assert doc["bundle"]["origin"] == {"@module": "os", "@class": "system"}


def test_a_prefix_that_cannot_be_imported_is_a_configuration_error(make_store, bucket):
    with pytest.raises(ConfigurationError, match="'no_such_package_s3x'"):
        make_store(decode_objects=["pymatgen", "no_such_package_s3x"])
    store = make_store()
    with pytest.raises(ConfigurationError, match="'no_such_package_s3x.core'"):
        store.get("x", decode_objects=["no_such_package_s3x.core"])
    with pytest.raises(ConfigurationError, match="module prefixes"):
        make_store(decode_objects=[3])


@pytest.mark.slow
def test_decode_objects_is_part_of_the_configuration(make_store):
    store = make_store(decode_objects=["pymatgen", "emmet.core"])
    config = store.as_dict()
    assert config["decode_objects"] == ["pymatgen", "emmet.core"]
    again = S3Store.from_dict(config)
    assert again.decode_objects == ["pymatgen", "emmet.core"]
    assert again == store
    assert make_store().as_dict()["decode_objects"] is None
    assert make_store() != store


def test_an_allowed_object_that_cannot_be_rebuilt_is_corrupt(make_store):
    store = make_store(decode_objects=["pymatgen"])
    broken = {"@module": "pymatgen.core.structure", "@class": "Structure", "sites": "nope"}
    store.update([{"task_id": "bad", "structure": broken}, task_doc("good")])
    with pytest.raises(CorruptObjectError, match="'bad'.*'structure'.*without decode_objects"):
        store.get("bad")
    with pytest.warns(UserWarning, match="'bad'"):
        got = list(store.query({}, on_error="skip"))
    assert [d["task_id"] for d in got] == ["good"]
    assert store.get("bad", decode_objects=False)["structure"]["sites"] == "nope"
