"""Materials documents through maggma 0.77.1 and back, over one moto S3 and one index."""

from __future__ import annotations

import copy
import uuid

import bson
import mongomock_ng
import pytest
from monty.json import MontyDecoder

from tests.materials._docs import Structure, TaskType, fe2o3_like, nacl, task_doc
from tests.stores.test_maggma_compat import maggma_store, our_store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def shared_collection():
    return mongomock_ng.MongoClient()["materials"][f"index_{uuid.uuid4().hex[:6]}"]


def jsanitized(doc: dict) -> dict:
    """As maggma users store documents: monty's jsanitize (objects as their dicts)."""
    from monty.json import jsanitize

    return jsanitize(doc, strict=True, allow_bson=True)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.slow
def test_we_rebuild_the_structure_maggma_wrote(shared_collection, s3_server, bucket,
                                               compress):
    theirs = maggma_store(shared_collection, s3_server, bucket, compress=compress,
                          searchable_fields=["formula"])
    docs = [jsanitized(task_doc("mp-1")),
            jsanitized({**task_doc("mp-2"), "structure": nacl()})]
    theirs.update(copy.deepcopy(docs))
    ours = our_store(shared_collection, s3_server, bucket, compress=compress,
                     decode_objects=["pymatgen", "emmet.core"])
    got = {d["task_id"]: d for d in ours.query()}
    assert got["mp-1"]["structure"] == fe2o3_like()
    assert got["mp-2"]["structure"] == nacl()
    assert got["mp-1"]["task_type"] is TaskType.Static
    # what a maggma user gets from the same bytes
    expected = MontyDecoder().process_decoded(next(theirs.query({"task_id": "mp-1"})))
    assert got["mp-1"]["structure"] == expected["structure"]


def test_maggma_reads_the_structure_we_wrote(shared_collection, s3_server, bucket):
    ours = our_store(shared_collection, s3_server, bucket, compress=True,
                     searchable_fields=["formula"])
    ours.update([task_doc("mp-1")])
    theirs = maggma_store(shared_collection, s3_server, bucket, compress=True)
    [doc] = list(theirs.query({"task_id": "mp-1"}))
    decoded = MontyDecoder().process_decoded(doc)
    assert isinstance(decoded["structure"], Structure)
    assert decoded["structure"] == fe2o3_like()
    assert decoded["task_type"] == TaskType.Static


def test_object_id_is_stored_as_maggma_stores_it(shared_collection, s3_server, bucket):
    oid = bson.ObjectId()
    ours = our_store(shared_collection, s3_server, bucket, searchable_fields=["formula"])
    result = ours.update([{"_id": oid, "task_id": "mp-1", "formula": "NaCl"}])
    assert result.written == 1
    tagged = {"@module": "bson.objectid", "@class": "ObjectId", "oid": str(oid)}
    assert ours.get("mp-1")["_id"] == tagged
    assert ours.get("mp-1", decode_objects=["bson"])["_id"] == oid
    entry = shared_collection.find_one({"task_id": "mp-1"})
    assert entry["_id"] != oid  # the index gets its own _id, as maggma's does
    theirs = maggma_store(shared_collection, s3_server, bucket)
    [doc] = list(theirs.query({"task_id": "mp-1"}))
    assert doc["_id"] == tagged
    assert MontyDecoder().process_decoded(doc)["_id"] == oid

    # maggma writes the same bytes for it: we read its object back the same way
    shared_collection.delete_many({})
    theirs.update([{"_id": oid, "task_id": "mp-2", "formula": "NaCl"}])
    assert ours.get("mp-2")["_id"] == tagged
