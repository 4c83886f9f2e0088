"""Map keys that would not read back are refused; allowed objects only are rebuilt."""

from __future__ import annotations

import enum
import io
import sys

import msgpack
import numpy as np
import pytest

from s3explore import _codec as codec
from s3explore._errors import ConfigurationError, CorruptObjectError, InvalidDocumentError


class Spin(enum.Enum):
    up, down = 1, -1


class Kind(enum.StrEnum):
    a = "A"


def test_enum_tuple_and_object_keys_are_refused_naming_the_path():
    for doc, path in [({"k": "x", "dos": {Spin.up: [1.0]}}, "'dos'"),
                      ({"k": "x", "runs": [1, {"g": {(1, 2): 3}}]}, "'runs.1.g'"),
                      ({"k": "x", Spin.down: 1}, "the document")]:
        with pytest.raises(InvalidDocumentError, match=path) as info:
            codec.encode_body(doc, "zlib", key="x")
        assert info.value.key == "x"
        with pytest.raises(InvalidDocumentError, match=path):
            b"".join(codec.encode_chunks(doc, "zlib", key="x"))


def test_bad_keys_in_mappings_that_are_not_dicts_are_found_too():
    # dicts take a fast type check; any other Mapping still goes through isinstance
    from collections import OrderedDict
    from types import MappingProxyType

    from s3explore._codec._body import check_map_keys

    for doc, path in [({"a": [1, {"b": MappingProxyType({(1, 2): 3})}]}, "'a.1.b'"),
                      ({"a": OrderedDict({"c": {(1,): 2}})}, "'a.c'"),
                      (MappingProxyType({"k": "x", Spin.up: 1}), "the document")]:
        with pytest.raises(InvalidDocumentError, match=path):
            check_map_keys(doc, "x")
    check_map_keys(MappingProxyType({"a": OrderedDict({"c": [{"d": 1}]})}), "x")


def test_keys_that_read_back_are_accepted():
    doc = {"s": {Kind.a: 1}, "i": {3: "x", np.int64(4): "y", 2.5: "z", None: 0, b"b": 1}}
    back = codec.decode_body(codec.encode_body(doc, None), None)
    assert back == {"s": {"A": 1}, "i": {3: "x", 4: "y", 2.5: "z", None: 0, b"b": 1}}


def test_a_body_with_a_map_as_key_is_corrupt_in_both_decoders():
    body = msgpack.packb({"dos": {"densities": {"x": 1}}})
    bad = body.replace(b"\xa1x", b"\x81\xa1x\x01", 1)  # the key "x" becomes the map {x: 1}
    with pytest.raises(CorruptObjectError, match="'k'.*key that is a map"):
        codec.decode_body(bad, None, "k")
    with pytest.raises(CorruptObjectError, match="'k'.*key that is a map"):
        codec.decode_stream(io.BytesIO(bad), None, "k")


def test_object_ids_are_tagged_byte_for_byte_as_monty_does():
    bson = pytest.importorskip("bson")
    monty_msgpack = pytest.importorskip("monty.msgpack")
    doc = {"_id": bson.ObjectId(), "task_id": "a"}
    assert codec.encode_body(doc, None) == msgpack.packb(doc, default=monty_msgpack.default)


def test_rebuild_without_prefixes_changes_nothing():
    doc = {"x": {"@module": "colorsys", "@class": "Thing", "v": 1}}
    assert codec.rebuild_objects(doc, ()) == {"x": {"@module": "colorsys", "@class": "Thing",
                                                    "v": 1}}


def test_modules_not_allowed_are_never_imported():
    pytest.importorskip("monty.json")
    name = "wave"  # a standard module nothing here imports
    if name in sys.modules:
        pytest.skip(f"{name} is already imported")
    doc = {"x": {"@module": name, "@class": "Wave_read", "f": "/nonexistent"},
           "y": [{"@module": f"{name}.sub", "@class": "X"}]}
    out = codec.rebuild_objects(doc, codec.check_decode_objects(["json"]), "k")
    assert out["x"]["@module"] == name and out["y"][0]["@class"] == "X"
    assert name not in sys.modules


def test_allowed_prefix_matches_whole_module_names():
    assert codec.allowed_module("pymatgen.core.structure", ("pymatgen",))
    assert codec.allowed_module("pymatgen", ("pymatgen",))
    assert not codec.allowed_module("pymatgen_extra.x", ("pymatgen",))
    assert not codec.allowed_module("emmet.builders.x", ("emmet.core",))


def test_decode_objects_settings_are_checked():
    assert codec.check_decode_objects(None) == ()
    assert codec.check_decode_objects(False) == ()
    assert codec.check_decode_objects("json") == ("json",)
    with pytest.raises(ConfigurationError, match="'nope_s3x_pkg'"):
        codec.check_decode_objects(["json", "nope_s3x_pkg"])
    with pytest.raises(ConfigurationError, match="module prefixes"):
        codec.check_decode_objects([""])
