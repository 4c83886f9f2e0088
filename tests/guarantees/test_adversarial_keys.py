"""One key, one object: ``1`` and ``"1"`` name the same S3 object, so the index never holds
an entry for each. The latest write's key wins; removing by either form leaves no entry that
points at nothing.
"""

from __future__ import annotations

import pytest

from s3explore import DuckDBStore, MemoryStore, ObjectNotFoundError

PAIRS = [(1, "1"), ("1", 1), (0, "0"), (-7, "-7"), (2**63 - 1, str(2**63 - 1))]
INDEXES = {"memory": lambda name: MemoryStore(name, key="fs_id"),
           "duckdb": lambda name: DuckDBStore(name, key="fs_id")}


@pytest.fixture(params=sorted(INDEXES))
def keyed(request, make_store, bucket):
    return make_store(index=INDEXES[request.param](f"keys-{bucket}"),
                      searchable_fields=["body"])


def entries(store) -> list:
    return sorted(repr(d["fs_id"]) for d in store.index.query(properties=["fs_id"]))


def listing(store, bucket) -> list[str]:
    found = store.objects.client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(o["Key"] for o in found)


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a!r}-then-{b!r}" for a, b in PAIRS])
@pytest.mark.slow
def test_a_key_written_under_two_types_keeps_one_entry_for_its_one_object(
        keyed, bucket, first, second):
    keyed.update([{"fs_id": first, "body": "first"}, {"fs_id": "other", "body": "kept"}])
    keyed.update([{"fs_id": second, "body": "second"}])  # a later update, a settled key

    assert entries(keyed) == sorted([repr(second), repr("other")])
    assert listing(keyed, bucket) == sorted([str(second), "other"])
    assert keyed.count({"fs_id": second}) == 1
    assert keyed.count({"fs_id": first}) == 0  # the latest write's key wins
    (doc,) = keyed.query({"fs_id": second})
    assert doc["body"] == "second" and doc["fs_id"] == second
    report = keyed.verify()
    assert report.ok, report


@pytest.mark.parametrize(("first", "second"), PAIRS[:2], ids=["int-first", "str-first"])
@pytest.mark.slow
def test_removing_by_either_form_leaves_no_entry_pointing_at_nothing(keyed, bucket, first,
                                                                     second):
    keyed.update([{"fs_id": first, "body": "a"}])
    keyed.update([{"fs_id": second, "body": "b"}])
    keyed.remove_docs({"fs_id": second}, remove_s3_object=True)
    assert entries(keyed) == [] and listing(keyed, bucket) == []
    with pytest.raises(ObjectNotFoundError):
        keyed.get(first)
    assert keyed.verify().ok


def test_both_forms_in_one_update_store_the_first_and_report_the_second(keyed):
    result = keyed.update([{"fs_id": 5, "body": "a"}, {"fs_id": "5", "body": "b"}],
                          errors="collect")
    assert [f.key for f in result.failures] == ["5"]
    assert "appears again" in result.failures[0].reason
    assert entries(keyed) == ["5"]


def test_keys_without_a_twin_are_left_alone(keyed):
    # "01", "+1" and "1.0" are other objects than 1: no entry of theirs is touched
    keyed.update([{"fs_id": k, "body": str(k)} for k in ("01", "+1", "1.0", "mp-1")])
    keyed.update([{"fs_id": 1, "body": "one"}])
    assert entries(keyed) == sorted(repr(k) for k in ("01", "+1", "1.0", "mp-1", 1))
