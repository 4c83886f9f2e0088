"""Public classes compose the frames; clean frames warn nothing."""

from __future__ import annotations

import warnings

import s3explore
from s3explore import MemoryStore, S3Store, _stores
from tests.frames.conftest import _names, _s3_docs

# ---------------------------------------------------------------- composition


def test_public_classes_compose_the_frames(make_store):
    for cls in (s3explore.MemoryStore, s3explore.MontyStore, s3explore.MongoStore,
                s3explore.MongograntStore, s3explore.S3Store):
        assert hasattr(cls, "query_df") and cls.__doc__
        assert cls.__name__ == getattr(_stores, cls.__name__).__name__
    assert issubclass(s3explore.MongograntStore, s3explore.MongoStore)
    assert repr(MemoryStore("abc")) == "MemoryStore('abc', key='task_id')"
    plain_index = _stores.MemoryStore(f"plain-{next(_names)}")
    store = make_store(index=plain_index, searchable_fields=["nsites"])
    assert isinstance(store, S3Store)
    store.update(_s3_docs(2))
    assert store.query_df(fetch=["output.energy"])["output.energy"].tolist() == [0.0, -1.5]


# pymongoarrow, on a real server: tests/frames/test_mongo_arrow.py


def test_warnings_are_not_raised_for_clean_frames(memory):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        memory.query_df()
        memory.to_arrow()
