"""One vocabulary: ``on_error`` for bad items, ``workers`` defaulted one way, one checker class;
the old spellings still work for one release, with a DeprecationWarning naming the new one."""

from __future__ import annotations

import inspect
import warnings

import pytest

import s3explore
from s3explore import ConfigurationError, ManifestStore, MemoryStore, QueryError, S3Store
from s3explore._checks import (
    DEFAULT_WORKERS,
    ArgumentError,
    one_of,
    positive_int,
    positive_number,
    whole_number,
)
from tests.conftest import CREDENTIALS


def material(i: int) -> dict:
    return {"task_id": f"mp-{i}", "formula": "Si", "nsites": i}


# ------------------------------------------------------------ the checkers


@pytest.mark.parametrize(("check", "message"), [
    (lambda: positive_int(0, "chunk_size"), "chunk_size must be a whole number >= 1, got 0"),
    (lambda: positive_int(True, "workers"), "workers must be a whole number >= 1, got True"),
    (lambda: whole_number(-1, "limit"), "limit must be a whole number >= 0, got -1"),
    (lambda: whole_number(0, "ms", 1, none_ok=True, unit="milliseconds"),
     "ms must be a whole number of milliseconds >= 1 or None, got 0"),
    (lambda: positive_number(float("inf"), "max_time", none_ok=True, none_means="no limit"),
     r"max_time must be a positive number of seconds or None \(no limit\), got inf"),
    (lambda: positive_number(1.5, "max_decoded_bytes", unit="bytes", integer=True),
     "max_decoded_bytes must be a positive number of bytes, got 1.5"),
    (lambda: one_of("none", "on_error", ("raise", "skip")),
     r"on_error must be one of \('raise', 'skip'\), got 'none'"),
    (lambda: one_of(["x"], "on_error", ("raise",)), "on_error must be one of"),
])
def test_checkers_raise_one_class_naming_the_argument(check, message):
    with pytest.raises(ArgumentError, match=message) as caught:
        check()
    # callers catching either of the classes raised before keep working
    assert isinstance(caught.value, ConfigurationError) and isinstance(caught.value, QueryError)


def test_checkers_return_good_values():
    assert positive_int(3, "n") == 3 and positive_int(None, "n", none_ok=True) is None
    assert whole_number(0, "skip") == 0 and positive_number(0.5, "t") == 0.5
    assert one_of("skip", "on_error", ("raise", "skip")) == "skip"


@pytest.mark.parametrize("make", [
    lambda: S3Store(MemoryStore("i"), "bucket", metadata_limit=0),
    lambda: S3Store(MemoryStore("i"), "bucket", s3_workers=0),
    lambda: S3Store(MemoryStore("i"), "bucket", timeout=-1),
    lambda: S3Store(MemoryStore("i"), "bucket", engine="curl"),
    lambda: MemoryStore("i", last_updated_type="epoch"),
])
def test_constructors_raise_the_one_class(make):
    with pytest.raises(ArgumentError):
        make()


# ------------------------------------------------------------ update(on_error=)


def test_update_on_error_collect_returns_the_failures(make_store):
    store = make_store()
    result = store.update([material(1), {"formula": "no key"}], on_error="collect")
    assert result.written == 1 and len(result.failures) == 1


def test_update_errors_is_a_deprecated_alias_of_on_error(make_store):
    store = make_store()
    with pytest.warns(DeprecationWarning, match=r"errors= is deprecated.*on_error='collect'"):
        old = store.update([material(1), {"formula": "no key"}], errors="collect")
    new = store.update([material(1), {"formula": "no key"}], on_error="collect")
    assert (old.written, old.failed_keys) == (new.written, new.failed_keys) == (1, [None])


def test_update_refuses_two_different_spellings_at_once(make_store):
    store = make_store()
    with pytest.raises(ArgumentError, match="pass only on_error="):
        store.update([material(1)], errors="raise", on_error="collect")
    assert store.count() == 0


def test_update_on_error_accepts_only_write_choices(make_store):
    with pytest.raises(ArgumentError, match=r"on_error must be one of \('raise', 'collect'\)"):
        make_store().update([material(1)], on_error="skip")


# ------------------------------------------------------------ reads: on_missing="null"


def test_on_missing_null_yields_none_in_place(make_store):
    store = make_store()
    store.update([material(1), material(2)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the new spelling: no warning
        got = list(store.get_many(["mp-1", "nope", "mp-2"], on_missing="null"))
    assert [d and d["task_id"] for d in got] == ["mp-1", None, "mp-2"]


def test_on_missing_none_is_deprecated_and_means_null(make_store):
    store = make_store()
    store.update([material(1), material(2)])
    with pytest.warns(DeprecationWarning, match="on_missing='none' is deprecated.*'null'"):
        got = list(store.get_many(["mp-1", "nope", "mp-2"], on_missing="none"))
    assert [d and d["task_id"] for d in got] == ["mp-1", None, "mp-2"]


@pytest.mark.slow
def test_manifest_store_reads_speak_the_same_vocabulary(make_store, s3_server, tmp_path):
    store = make_store(searchable_fields=["formula"])
    store.update([material(1), material(2)])
    store.write_manifest()
    opened = s3explore.open(f"s3://{store.bucket}/", s3_profile=dict(CREDENTIALS),
                            endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)
    with opened:
        new = list(opened.get_many(["mp-1", "nope"], on_missing="null"))
        with pytest.warns(DeprecationWarning, match="on_missing='none'"):
            old = list(opened.get_many(["mp-1", "nope"], on_missing="none"))
        assert new == old and new[1] is None and new[0]["task_id"] == "mp-1"
        with pytest.raises(ArgumentError, match="on_missing must be one of"):
            list(opened.get_many(["mp-1"], on_missing="keep"))


# ------------------------------------------------------------ workers


def test_workers_default_one_way():
    s3 = inspect.signature(S3Store).parameters["s3_workers"].default
    manifest = inspect.signature(ManifestStore).parameters["s3_workers"].default
    opened = inspect.signature(s3explore.open).parameters["workers"].default
    assert s3 == manifest == opened == DEFAULT_WORKERS
    assert S3Store(MemoryStore("i"), "bucket").s3_workers == DEFAULT_WORKERS
