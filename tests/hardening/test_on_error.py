"""One corrupt object does not block a whole read: on_error for query, get_many, query_df."""

from __future__ import annotations

import warnings

import pytest

from s3explore import ConfigurationError, CorruptObjectError


def material(i: int) -> dict:
    return {"task_id": f"mp-{i}", "nsites": i, "dos": {"total": [float(i)] * 3}}


@pytest.fixture
def one_bad(make_store, s3_server, bucket):
    store = make_store(compress=True, searchable_fields=["nsites"])
    assert store.update([material(i) for i in range(6)]).ok
    metadata = s3_server.client().head_object(Bucket=bucket, Key="mp-2")["Metadata"]
    s3_server.client().put_object(Bucket=bucket, Key="mp-2", Body=b"\x78\x9cbad",
                                  Metadata=metadata)
    return store


def test_query(one_bad):
    with pytest.raises(CorruptObjectError, match="'mp-2'"):
        list(one_bad.query(sort={"nsites": 1}))
    with pytest.warns(UserWarning, match=r"1 object\(s\).*left out: 'mp-2'"):
        docs = list(one_bad.query(sort={"nsites": 1}, on_error="skip"))
    assert [d["task_id"] for d in docs] == ["mp-0", "mp-1", "mp-3", "mp-4", "mp-5"]
    with pytest.warns(UserWarning, match="returned as None: 'mp-2'"):
        docs = list(one_bad.query(sort={"nsites": 1}, on_error="null"))
    assert [d and d["task_id"] for d in docs] == ["mp-0", "mp-1", None, "mp-3", "mp-4", "mp-5"]


def test_get_many(one_bad):
    keys = [f"mp-{i}" for i in range(6)]
    with pytest.raises(CorruptObjectError, match="'mp-2'"):
        list(one_bad.get_many(keys))
    with pytest.warns(UserWarning, match="'mp-2'"):
        assert len(list(one_bad.get_many(keys, on_error="skip"))) == 5
    with pytest.warns(UserWarning, match="'mp-2'"):
        assert [d is None for d in one_bad.get_many(keys, on_error="null")] == [
            False, False, True, False, False, False]


def test_query_df_fetch(one_bad):
    with pytest.raises(CorruptObjectError, match="'mp-2'"):
        one_bad.query_df(sort={"nsites": 1}, fetch=["dos.total"])
    with pytest.warns(UserWarning, match=r"1 object\(s\).*fetched fields.*null.*'mp-2'"):
        df = one_bad.query_df(sort={"nsites": 1}, fetch=["dos.total"], on_error="null")
    assert list(df["task_id"]) == [f"mp-{i}" for i in range(6)]
    assert df["dos.total"].isna().tolist() == [False, False, True, False, False, False]
    assert list(df["dos.total"][3]) == [3.0] * 3
    with pytest.warns(UserWarning, match="rows are left out.*'mp-2'"):
        df = one_bad.query_df(sort={"nsites": 1}, fetch=["dos.total"], on_error="skip")
    assert list(df["task_id"]) == ["mp-0", "mp-1", "mp-3", "mp-4", "mp-5"]
    assert list(df["nsites"]) == [0, 1, 3, 4, 5]  # index columns stay aligned
    assert [list(v) for v in df["dos.total"]] == [[float(i)] * 3 for i in (0, 1, 3, 4, 5)]
    with pytest.raises(ConfigurationError, match="on_error"):
        one_bad.query_df(fetch=["dos.total"], on_error="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # without fetch, objects are not read: no warning
        assert len(one_bad.query_df(on_error="skip")) == 6
