"""DuckDBStore against an oracle: the same random documents and queries in MemoryStore
(mongomock) must give the same documents in the same order.

Random documents mix types in every field, nest dicts, hold arrays of values and of
documents, nulls and missing fields. Random criteria use every operator DuckDBStore
translates, combined with $and/$or/$nor; sorts and projections are random too. Derandomized,
with bounded examples, so every CI run checks the same few thousand queries in seconds.

Where mongomock itself departs from MongoDB, the generators stay away (DuckDBStore follows
MongoDB there; test_duckdb_store.py checks those cases on their own):
- mongomock says ``True == 1`` and ``False == 0``: numbers 0 and 1 are not generated;
- a dotted path blocked by a scalar (``a.x`` when ``a`` is 5) does not match null, ``$not``
  and the like in mongomock: null operands and ``$not`` only on top-level fields;
- below an array of documents (``recs.x``) mongomock applies several operators to each
  element together and ``$exists: false`` to any element: one operator at a time there;
- ``$all: []`` matches everything in mongomock, ``$size`` counts dict keys and scalars:
  ``$all`` lists are non-empty, ``$size`` only on fields holding arrays or scalars, never 1;
- an empty dict operand matches missing fields in mongomock: dict operands are non-empty;
- ``$eq``/``$ne`` with an array operand skip nested arrays in mongomock: arrays only as plain
  equality; range operators with null, array or dict operands are not generated;
- mongomock keeps datetimes to milliseconds (DuckDBStore keeps microseconds): generated
  datetimes have whole milliseconds.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3explore import DuckDBStore, MemoryStore
from s3explore._query import get_path, nested
from s3explore._stores._duckdb._values import enc

SCALARS = st.one_of(
    st.integers(-20, -1), st.integers(2, 20),
    st.sampled_from([2.5, -3.25, 7.0, 1e10, -0.5]),
    st.sampled_from(["Fe", "fe", "O", "Si", "", "é", "Ω", "Fe2O3", "si"]),
    st.booleans(),
    st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2025, 1, 1)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, fold=0)),
    st.none(),
)
SOME = st.one_of(st.integers(2, 9), st.sampled_from([-3, 2.5, 7.0, "Fe", "si", "", "Ω"]),
                 st.booleans(), st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2025, 1, 1)
                                             ).map(lambda d: d.replace(microsecond=0, fold=0)))
MISSING = object()


def _maybe(strategy):
    return st.one_of(st.just(MISSING), strategy)


SUB = st.fixed_dictionaries({}, optional={"x": SCALARS, "y": SCALARS})
REC = st.fixed_dictionaries({}, optional={"x": SCALARS, "y": st.one_of(
    SCALARS, st.lists(SOME, max_size=3))})
DOC = st.fixed_dictionaries({
    "n": _maybe(SCALARS),
    "s": _maybe(SCALARS),
    "a": _maybe(st.one_of(SUB, SCALARS)),
    "tags": _maybe(st.one_of(st.lists(st.one_of(SCALARS, st.lists(SOME, max_size=2)),
                                      max_size=4), SCALARS)),
    "recs": _maybe(st.one_of(st.lists(REC, max_size=3), REC, st.none())),
})

TOP = ["n", "s", "a", "tags", "recs", "task_id", "nowhere"]
DOTTED = ["a.x", "a.y", "recs.x", "recs.y"]
UNDER_ARRAYS = {"recs.x", "recs.y"}
PATTERNS = ["^F", "e$", "i", "^$", "[aeiou]", "S.", "Ω|é", "^fe"]
TYPES = ["double", "string", "object", "array", "bool", "date", "int", "number"]


@st.composite
def condition(draw, path: str):
    top = path in TOP
    value = SCALARS if top else SOME
    single = path in UNDER_ARRAYS
    kind = draw(st.sampled_from(
        ["plain", "eq", "ne", "range", "in", "nin", "exists", "regex", "not", "size", "all",
         "elem", "type", "plain_list"]))
    if kind == "plain":
        if path == "a":
            return draw(st.one_of(value, SUB.filter(bool)))
        return draw(value)
    if kind == "plain_list":
        return draw(st.lists(SOME, min_size=1, max_size=2))
    if kind in ("eq", "ne"):
        return {f"${kind}": draw(value)}
    if kind == "range":
        ops = draw(st.lists(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), min_size=1,
                            max_size=1 if single else 2, unique=True))
        return {op: draw(SOME) for op in ops}
    if kind in ("in", "nin"):
        return {f"${kind}": draw(st.lists(value, max_size=4))}
    if kind == "exists":
        return {"$exists": draw(st.booleans()) if not single else True}
    if kind == "regex":
        spec = {"$regex": draw(st.sampled_from(PATTERNS))}
        if draw(st.booleans()):
            spec["$options"] = "i"
        return spec
    if kind == "not" and top:
        inner = draw(st.one_of(
            st.builds(lambda op, v: {op: v}, st.sampled_from(["$gt", "$lte"]), SOME),
            st.builds(lambda p: {"$regex": p}, st.sampled_from(PATTERNS))))
        return {"$not": inner}
    if kind == "size" and path == "tags":
        return {"$size": draw(st.sampled_from([0, 2, 3]))}
    if kind == "all" and not single:
        return {"$all": draw(st.lists(SOME, min_size=1, max_size=2))}
    if kind == "elem" and path == "tags":
        return {"$elemMatch": {draw(st.sampled_from(["$gt", "$lt", "$eq"])): draw(SOME)}}
    if kind == "elem" and path == "recs":
        return {"$elemMatch": {draw(st.sampled_from(["x", "y"])): draw(SOME)}}
    if kind == "type" and top:
        return {"$type": draw(st.sampled_from(TYPES))}
    return draw(SOME)


@st.composite
def leaf(draw):
    path = draw(st.sampled_from(TOP + DOTTED))
    return {path: draw(condition(path))}


CRITERIA = st.recursive(
    st.one_of(leaf(), st.builds(lambda a, b: {**a, **b}, leaf(), leaf())),
    lambda inner: st.builds(lambda op, items: {op: items},
                            st.sampled_from(["$and", "$or", "$nor"]),
                            st.lists(inner, min_size=1, max_size=3)),
    max_leaves=4,
)
SORT = st.lists(st.tuples(st.sampled_from(TOP + DOTTED), st.sampled_from([1, -1])),
                max_size=2, unique_by=lambda p: p[0])
PROJECTIONS = st.one_of(st.none(), st.sampled_from([
    ["n"], ["s", "task_id"], ["a"], ["a.x"], ["tags", "n"], ["recs"], ["recs.y", "a.x"],
    ["recs.x", "s", "nowhere"], ["a.y", "tags", "task_id"]]))
QUERY = st.fixed_dictionaries({"criteria": CRITERIA, "sort": SORT, "properties": PROJECTIONS,
                               "skip": st.integers(0, 3), "limit": st.integers(0, 6)})

_names = itertools.count()
FAST = {"threads": 1}  # tiny tables: one thread saves DuckDB's scheduling


def _load(docs: list[dict], batches: int = 1) -> tuple[MemoryStore, DuckDBStore]:
    number = next(_names)
    oracle = MemoryStore(f"oracle{number}")
    store = DuckDBStore(f"duck{number}", duckdb_config=FAST)
    oracle.connect()
    store.connect()
    rows = [{"task_id": f"k{i:03d}", **{k: v for k, v in d.items() if v is not MISSING}}
            for i, d in enumerate(docs)]
    size = -(-len(rows) // batches)  # in later batches the schema grows
    for part in (rows[i:i + size] for i in range(0, len(rows), size)):
        if part:
            oracle.update(part)
            store.update(part)
    return oracle, store


@settings(max_examples=80, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(docs=st.lists(DOC, min_size=25, max_size=60),
       queries=st.lists(QUERY, min_size=15, max_size=15),
       removals=st.lists(CRITERIA, min_size=2, max_size=2))
@pytest.mark.slow
def test_same_documents_in_the_same_order_as_mongomock(docs, queries, removals):
    oracle, store = _load(docs, batches=2)
    for q in queries:
        sort = {**dict(q["sort"]), "task_id": 1}
        args = (q["criteria"], q["properties"], sort, q["skip"], q["limit"])
        assert list(store.query(*args)) == list(oracle.query(*args)), q
        assert store.count(q["criteria"]) == oracle.count(q["criteria"]), q
    for field in ("n", "s", "a", "a.x", "recs.x"):  # mongomock's distinct fails on "tags"
        assert sorted(map(repr, store.distinct(field))) == sorted(
            map(repr, oracle.distinct(field))), field
    for field in ("n", "s", "a.x"):
        args = (field, None, ["task_id"], {"task_id": 1})
        assert list(store.groupby(*args)) == list(oracle.groupby(*args)), field
    for criteria in removals:
        oracle.remove_docs(criteria)
        store.remove_docs(criteria)
        assert list(store.query()) == list(oracle.query()), criteria


GROUP_KEYS = ["n", "s", "a", "tags", "recs", "a.x", "a.y", "recs.x", "recs.y", "nowhere"]
WHOLE_VALUES = {"a", "tags", "recs", "recs.y"}  # keys that may hold arrays or dicts
GROUPBY = st.fixed_dictionaries({
    "keys": st.lists(st.sampled_from(GROUP_KEYS), min_size=1, max_size=2, unique=True),
    "criteria": st.one_of(st.just({}), CRITERIA), "sort": SORT, "properties": PROJECTIONS,
    "skip": st.integers(0, 3), "limit": st.integers(0, 4)})


def _collide(keys: list[str], properties: list[str] | None) -> bool:
    """A key and a property of which one holds the other: MongoDB refuses such projections."""
    names = [*keys, *(properties or [])]
    return any(b.startswith(a + ".") for a in names for b in names)


def _as_mongodb(groups, keys: list[str], order: dict[str, int]) -> list:
    """MemoryStore's groups as MongoDB forms them where they differ: values MongoDB finds
    equal (``[7]`` and ``[7.0]``, ``{"x": 7}`` and ``{"x": 7.0}``) in one group, and arrays
    and dicts in MongoDB's order (MemoryStore orders them by repr)."""
    merged: dict[tuple, list] = {}
    for _, docs in groups:
        ident = tuple(enc(get_path(docs[0], k)) for k in keys)
        merged.setdefault(ident, []).extend(docs)
    out = []
    for ident in sorted(merged):
        docs = sorted(merged[ident], key=lambda d: order[d["task_id"]])
        out.append((nested({k: get_path(docs[0], k) for k in keys}), docs))
    return out


@settings(max_examples=40, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(docs=st.lists(DOC, min_size=25, max_size=60),
       queries=st.lists(GROUPBY, min_size=12, max_size=12))
@pytest.mark.slow
def test_same_groups_as_mongomock(docs, queries):
    """groupby: missing keys left out, null a group, arrays and dicts whole values, 1 and 1.0
    one group, members in the query's order, skip and limit counting groups."""
    oracle, store = _load(docs, batches=2)
    for q in queries:
        keys, props = q["keys"], q["properties"]
        if _collide(keys, props):
            props = None
        sort = {**dict(q["sort"]), "task_id": 1}
        got = list(store.groupby(keys, q["criteria"], props, sort, q["skip"], q["limit"]))
        if WHOLE_VALUES.isdisjoint(keys):
            expected = list(oracle.groupby(keys, q["criteria"], props, sort, q["skip"],
                                           q["limit"]))
        else:
            order = {d["task_id"]: i for i, d in enumerate(
                oracle.query(q["criteria"], ["task_id"], sort))}
            expected = _as_mongodb(oracle.groupby(keys, q["criteria"], props, sort), keys,
                                   order)
            expected = expected[q["skip"]:q["skip"] + q["limit"] if q["limit"] else None]
        assert got == expected, q


def test_groupby_on_whole_values_and_huge_ints():
    """Arrays, dicts and bytes group as whole values in MongoDB's order; ints beyond 2**53
    (which the number column cannot tell apart) are grouped from the documents."""
    store = DuckDBStore("whole", duckdb_config=FAST)
    store.connect()
    store.update([
        {"task_id": "a", "v": [2, 1]}, {"task_id": "b", "v": {"x": 1}},
        {"task_id": "c", "v": [1.0, 5]}, {"task_id": "d", "v": b"\x01"},
        {"task_id": "e", "v": [2.0, 1]}, {"task_id": "f", "v": {"x": 1.0}},
        {"task_id": "g", "v": "s"}, {"task_id": "h", "v": None}, {"task_id": "i"},
        {"task_id": "j", "v": [2, 1], "big": 2**60}, {"task_id": "k", "big": 2**60 + 1},
    ])
    groups = [(g["v"], [d["task_id"] for d in docs])
              for g, docs in store.groupby("v", properties=["task_id"])]
    assert groups == [(None, ["h"]), ("s", ["g"]), ({"x": 1}, ["b", "f"]), ([1.0, 5], ["c"]),
                      ([2, 1], ["a", "e", "j"]), (b"\x01", ["d"])]
    assert [g for g, _ in store.groupby("v", skip=2, limit=2)] == [{"v": {"x": 1}},
                                                                   {"v": [1.0, 5]}]
    assert [(g["big"], len(docs)) for g, docs in store.groupby("big")] == [
        (2**60, 1), (2**60 + 1, 1)]


@pytest.mark.parametrize("seed_docs", [[{"n": 2}, {"n": 2.0}, {"n": "2"}, {}]])
def test_oracle_harness_compares_real_results(seed_docs):
    """The comparison itself can fail: stores that disagree are caught."""
    oracle, store = _load(seed_docs)
    store.update({"task_id": "k000", "n": 3})
    assert list(store.query({"n": 2})) != list(oracle.query({"n": 2}))
