"""Golden SQL: criteria and sorts against one fixed catalog give exactly this SQL text and
these parameters. Any change in what the translator emits (``_sql``, ``_operators``,
``_order``, ``_logic``) or in what it sends to the document (``_plan``, ``_match``) shows
here; if the change is meant, update the expected text with it. Whether the SQL answers as
MongoDB does is checked elsewhere (test_duckdb_oracle.py against mongomock, and
test_duckdb_store.py)."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest

from s3explore import DuckDBStore, MemoryStore
from s3explore._errors import QueryError
from s3explore._stores._duckdb import _match
from s3explore._stores._duckdb._match import DictTest
from s3explore._stores._duckdb._schema import Catalog, PathInfo
from s3explore._stores._duckdb._sql import Translator

WHEN = dt.datetime(2024, 1, 1)


def fallback(clause):
    """The parameter ``s3x_match`` gets: the whole clause, encoded."""
    return _match.encode(clause)


def re2_accepts(pattern: str) -> bool:
    return "(?=" not in pattern  # RE2 has no lookahead; the real store asks DuckDB


# (id, path, tags, items, multi, via, columns): as DuckDBStore catalogs a few documents with
# numbers, strings, bools, datetimes, bytes, dicts, arrays of values, of documents, of arrays
PATHS = [
    (1, 'task_id', 16, 0, False, False, 's t'),
    (2, 'n', 4, 0, False, False, 'n t'),
    (3, 'x', 8, 0, False, False, 'n t'),
    (4, 's', 16, 0, False, False, 's t'),
    (5, 'flag', 256, 0, False, False, 'b t'),
    (6, 'when', 512, 0, False, False, 'd t'),
    (7, 'tags', 68, 4, True, False, 'ek en it n ob ok on t u x z'),
    (8, 'els', 64, 16, True, False, 'ek es it ob os t u x z'),
    (9, 'recs', 64, 32, True, False, 'ek it ob ok t u x z'),
    (10, 'recs.x', 0, 0, True, True, 'en ob on t u x'),
    (11, 'recs.y', 0, 0, True, True, 'es ob os t u x'),
    (12, 'calc', 32, 0, False, False, 't'),
    (13, 'calc.encut', 4, 0, False, False, 'n t'),
    (15, 'raw', 128, 0, False, False, 'k t'),
    (16, 'mixed', 52, 0, False, False, 'n s t'),
    (17, 'nested', 64, 64, True, False, 'ek it ob ok t u x z'),
]


def golden_catalog() -> Catalog:
    catalog = Catalog(1)
    for id_, path, tags, items, multi, via, columns in PATHS:
        catalog.paths[path] = PathInfo(id_, path, tags, items, multi, via,
                                       columns=set(columns.split()))
    return catalog


CRITERIA = [
    ({'n': 5},
     'c2_n = $p0',
     {'p0': 5.0}),
    ({'s': 'Fe'},
     'c4_s = $p0',
     {'p0': 'Fe'}),
    ({'flag': True},
     'c5_b = $p0',
     {'p0': True}),
    ({'when': WHEN},
     'c6_d = $p0',
     {'p0': WHEN}),
    ({'n': None},
     '(c2_t IS NULL OR c2_t = 1)',
     {}),
    ({'missing': 1},
     'FALSE',
     {}),
    ({'tags': 2},
     'list_contains(c7_en, $p0)',
     {'p0': 2.0}),
    ({'n': {'$ne': 5}},
     '(NOT coalesce(c2_n = $p0, FALSE))',
     {'p0': 5.0}),
    ({'n': {'$gt': 2, '$lte': 9.5}},
     '((c2_n > $p0 AND NOT isnan(c2_n)) AND (c2_n <= $p1))',
     {'p0': 2.0, 'p1': 9.5}),
    ({'tags': {'$gte': 2}},
     'list_max(list_filter(c7_en, lambda e: NOT isnan(e))) >= $p0',
     {'p0': 2.0}),
    ({'raw': {'$lt': b'\x01'}},
     '(c15_k < $p0 AND c15_k >= $p1 AND c15_k < $p2)',
     {'p0': b'\x1e\x00\x00\x00\x01\x01', 'p1': b'\x1e', 'p2': b'\x1f'}),
    ({'n': {'$gte': None}},
     '(c2_t IS NULL OR c2_t = 1)',
     {}),
    ({'s': {'$in': ['Fe', 'O', None, 3]}},
     '((c4_t IS NULL OR c4_t = 1) OR c4_s IN ($p0, $p1))',
     {'p0': 'Fe', 'p1': 'O'}),
    ({'tags': {'$nin': [1, 2]}},
     '(NOT coalesce(list_has_any(c7_en, $p0::DOUBLE[]), FALSE))',
     {'p0': [1.0, 2.0]}),
    ({'n': {'$in': list(range(60))}},
     'c2_n IN (SELECT unnest($p0::DOUBLE[]))',
     {'p0': [float(i) for i in range(60)]}),
    ({'n': {'$exists': True}, 's': {'$exists': False}},
     '(c2_t IS NOT NULL AND (NOT coalesce(c4_t IS NOT NULL, FALSE)))',
     {}),
    ({'tags': {'$exists': True}},
     'coalesce(c7_x, FALSE)',
     {}),
    ({'s': {'$regex': '^F', '$options': 'i'}},
     'regexp_matches(c4_s, $p0)',
     {'p0': '(?i)^F'}),
    ({'els': re.compile('e$')},
     'len(list_filter(c8_es, lambda e: regexp_matches(e, $p0))) > 0',
     {'p0': 'e$'}),
    ({'s': {'$regex': '(?=F)F'}},
     's3x_match(_doc, $p0)',
     {'p0': fallback({'s': {'$regex': re.compile('(?=F)F')}})}),
    ({'s': {'$regex': 'a b', '$options': 'x'}},
     's3x_match(_doc, $p0)',
     {'p0': fallback({'s': {'$regex': re.compile('a b', re.VERBOSE)}})}),
    ({'tags': {'$size': 2}},
     'list_contains(c7_z, $p0)',
     {'p0': 2}),
    ({'tags': {'$all': [1, 2]}},
     '(list_contains(c7_en, $p0) AND list_contains(c7_en, $p1))',
     {'p0': 1.0, 'p1': 2.0}),
    ({'s': {'$type': 'string'}},
     'c4_t = 4',
     {}),
    ({'mixed': {'$type': ['int', 'long']}},
     '((c16_t = 2 AND (c16_n >= -2147483648 AND c16_n < 2147483648)) OR '
     '(c16_t = 2 AND NOT (c16_n >= -2147483648 AND c16_n < 2147483648)))',
     {}),
    ({'tags': {'$type': 'array'}},
     's3x_match(_doc, $p0)',
     {'p0': fallback({'tags': {'$type': 'array'}})}),
    ({'n': {'$mod': [3, 1]}},
     '(NOT isnan(c2_n) AND trunc(c2_n) % $p0 = $p1)',
     {'p0': 3.0, 'p1': 1.0}),
    ({'tags': {'$mod': [2, 0]}},
     'len(list_filter(c7_en, lambda e: NOT isnan(e) AND trunc(e) % $p0 = $p1)) > 0',
     {'p0': 2.0, 'p1': 0.0}),
    ({'tags': {'$elemMatch': {'$gt': 2}}},
     '(c7_t = 6 AND list_max(list_filter(c7_en, lambda e: NOT isnan(e))) > $p0)',
     {'p0': 2.0}),
    ({'recs': {'$elemMatch': {'x': {'$lt': 5}}}},
     '(c9_t = 6 AND list_min(list_filter(c10_en, lambda e: NOT isnan(e))) < $p0)',
     {'p0': 5.0}),
    ({'recs': {'$elemMatch': {'x': 5, 'y': 'a'}}},
     's3x_match(_doc, $p0)',
     {'p0': fallback({'recs': {'$elemMatch': {'x': 5, 'y': 'a'}}})}),
    ({'calc': {'encut': 520}},
     's3x_match(_doc, $p0)',
     {'p0': fallback(DictTest('calc', '$eq', [{'encut': 520}]))}),
    ({'calc': {'$gt': {'encut': 1}}},
     's3x_match(_doc, $p0)',
     {'p0': fallback(DictTest('calc', '$gt', [{'encut': 1}]))}),
    ({'tags.0': 1},
     's3x_match(_doc, $p0)',
     {'p0': fallback({'tags.0': 1})}),
    ({'recs.x': {'$in': [1, 2]}},
     'list_has_any(c10_en, $p0::DOUBLE[])',
     {'p0': [1.0, 2.0]}),
    ({'$or': [{'n': 1}, {'s': {'$not': {'$regex': '^O'}}}], 'flag': False},
     '((c2_n = $p0 OR (NOT coalesce(regexp_matches(c4_s, $p1), FALSE))) AND c5_b = $p2)',
     {'p0': 1.0, 'p1': '^O', 'p2': False}),
    ({'$nor': [{'n': {'$lt': 0}}, {'missing': 3}]},
     '(NOT coalesce((c2_n < $p0), FALSE))',
     {'p0': 0.0}),
    ({'$and': [{'n': 1}, {'missing': 2}]},
     'FALSE',
     {}),
    ({'n': {'$not': {'$gt': 3}}},
     '(NOT coalesce((c2_n > $p0 AND NOT isnan(c2_n)), FALSE))',
     {'p0': 3.0}),
    ({'s': {'$in': [{'a': 1}, re.compile('^F'), 'O']}},
     '(s3x_match(_doc, $p0) OR regexp_matches(c4_s, $p1) OR c4_s IN ($p2))',
     {'p0': fallback(DictTest('s', '$eq', [{'a': 1}])), 'p1': '^F', 'p2': 'O'}),
    ({'recs': {'$elemMatch': {'nope': 1}}},
     'FALSE',
     {}),
    ({'missing': {'$exists': False}},
     'TRUE',
     {}),
    ({'tags.1': {'$in': [3]}},
     's3x_match(_doc, $p0)',
     {'p0': fallback({'tags.1': {'$in': [3]}})}),
    ({'tags': [1, 2]},
     'list_contains(c7_ek, $p0)',
     {'p0': b'\x19\n\xbf\xf0\x00\x00\x00\x00\x00\x00\n\xc0\x00\x00\x00\x00\x00\x00\x00\x00'}),
    ({'n': {'$ne': None}},
     '(NOT coalesce((c2_t IS NULL OR c2_t = 1), FALSE))',
     {}),
    ({'recs.x': {'$elemMatch': {'$gt': 1}}},
     's3x_match(_doc, $p0)',
     {'p0': fallback({'recs.x': {'$elemMatch': {'$gt': 1}}})}),
    ({'nested': {'$elemMatch': {'$gt': 1}}},
     's3x_match(_doc, $p0)',
     {'p0': fallback({'nested': {'$elemMatch': {'$gt': 1}}})}),
    ({'tags': {'$size': 0}, 's': {'$size': 1}},
     'FALSE',
     {}),
    ({'_id': {'$gte': 3}},
     '(_rid >= $p0 AND NOT isnan(_rid))',
     {'p0': 3.0}),
]

SORTS = [
    ([('n', 1)],
     'c2_n NULLS FIRST, _rid',
     {}),
    ([('mixed', -1), ('s', 1)],
     'coalesce(c16_t - (c16_t >= 3)::UTINYINT, 1) DESC, c16_n DESC, c16_s DESC, '
     'CASE WHEN c16_t = 5 THEN s3x_sort_key(_doc, $p0) ELSE NULL END DESC, '
     'c4_s NULLS FIRST, _rid',
     {'p0': 'mixed'}),
    ([('tags', 1)],
     '(CASE WHEN c7_ob IS NOT NULL THEN c7_ob ELSE coalesce(c7_t - (c7_t >= 3)::UTINYINT, 1) '
     'END), (CASE WHEN c7_ob IS NOT NULL THEN c7_on ELSE c7_n END), '
     '(CASE WHEN c7_ob IS NOT NULL THEN c7_ok ELSE NULL END), _rid',
     {}),
    ([('_id', -1), ('missing', 1)],
     '_rid DESC, _rid',
     {}),
]


@pytest.mark.parametrize(("criteria", "sql", "params"), CRITERIA,
                         ids=[repr(c)[:60] for c, _, _ in CRITERIA])
def test_criteria_give_this_sql_and_these_parameters(criteria, sql, params):
    tr = Translator(golden_catalog(), re2_accepts)
    assert (tr.where(criteria), tr.params) == (sql, params)


@pytest.mark.parametrize(("sort", "sql", "params"), SORTS, ids=[repr(s) for s, _, _ in SORTS])
def test_sorts_give_this_sql_and_these_parameters(sort, sql, params):
    tr = Translator(golden_catalog(), re2_accepts)
    assert (tr.order_by(sort), tr.params) == (sql, params)


def test_pieces_of_one_query_number_their_parameters_apart():
    tr = Translator(golden_catalog(), re2_accepts)
    where = tr.where({"n": {"$gt": 2}, "missing": 1})  # FALSE: its parameter is dropped
    assert where == "FALSE"
    where = tr.where({"n": {"$gt": 2}})
    order = tr.order_by([("mixed", 1)])
    limit = tr.p(10)
    assert (where, order.split(" THEN ")[-1][:30], limit) == (
        "(c2_n > $p1 AND NOT isnan(c2_n))", "s3x_sort_key(_doc, $p2) ELSE N", "$p3")
    assert tr.params == {"p1": 2.0, "p2": "mixed", "p3": 10}


def test_re2_is_asked_once_per_pattern_before_planning():
    asked = []
    tr = Translator(golden_catalog(), lambda p: asked.append(p) or True)
    tr.where({"$or": [{"s": {"$regex": "^F"}}, {"els": {"$regex": "^F"}},
                      {"s": {"$in": [re.compile("x$")]}}, {"s": {"$regex": "a", "$options": "x"}}]})
    assert asked == ["^F", "x$"]  # verbose patterns always run in Python


@pytest.mark.parametrize("clause", [
    {"tags.0": {"$in": [1, "a", None, b"\x00", WHEN, 2.5, True]}},
    {"s": {"$regex": re.compile("a b # c", re.VERBOSE | re.I)}},
    {"recs": {"$elemMatch": {"x": {"$gt": 1}, "y": {"k": [1, {"z": None}]}}}},
    DictTest("calc", "$gte", [{"encut": 1, "kind": "relax"}, {"a": [1.5]}]),
])
def test_fallback_clauses_travel_whole_in_their_parameter(clause):
    assert _match.decode(_match.encode(clause)) == clause


def test_bad_arguments_are_refused_while_parsing_naming_the_field():
    tr = Translator(golden_catalog(), re2_accepts)
    for criteria, message in [({"n": {"$mod": [0, 1]}}, r"\$mod on 'n'"),
                              ({"n": {"$options": "i"}}, r"\$options on 'n'"),
                              ({"n": {"$not": 5}}, r"\$not on 'n'"),
                              ({"n": {"$elemMatch": 5}}, r"\$elemMatch on 'n'"),
                              ({"$where": "1"}, r"\$where"),
                              ({"n": {"$near": 1}}, r"\$near")]:
        with pytest.raises(QueryError, match=message):
            tr.where(criteria)


def test_fallback_queries_answer_alike_from_many_threads():
    """Each query carries its own clauses: queries run side by side from several threads,
    each reading its result while the others run, answer as MemoryStore does."""
    docs = [{"task_id": i, "tags": [i % 3, i % 5], "recs": [{"x": i % 4, "y": i % 2}]}
            for i in range(60)]
    store, oracle = DuckDBStore("threads"), MemoryStore("threads")
    for s in (store, oracle):
        s.connect()
        s.update(docs)
    queries = [{"tags.0": k % 3, "recs": {"$elemMatch": {"x": k % 4, "y": k % 2}}}
               for k in range(12)]
    expected = [[d["task_id"] for d in oracle.query(q)] for q in queries]
    got: dict[int, list] = {}

    def run(k: int) -> None:
        got[k] = [d["task_id"] for d in store.query(queries[k])]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(queries))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [got[k] for k in range(len(queries))] == expected
    assert any(expected)


def test_translator_stages_import_downward_and_no_other_engine():
    """tree <- plan <- emitter (_operators, _sql); _order needs no translator; the DuckDB
    engine takes shared operator lists from _stores._portable, not from MongoStore."""
    import ast
    import pathlib

    import s3explore._stores._duckdb as package

    folder = pathlib.Path(package.__file__).parent

    def imports(name: str) -> set[str]:
        tree = ast.parse((folder / f"{name}.py").read_text())
        found = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        found |= {f"{n.module}.{a.name}" for n in ast.walk(tree)
                  if isinstance(n, ast.ImportFrom) and n.module for a in n.names}
        return {m.rsplit(".", 1)[-1] for m in found if m.startswith("s3explore._stores")}

    assert "_sql" not in imports("_order")
    assert not {"_plan", "_sql", "_operators"} & imports("_tree")
    assert not {"_sql", "_operators"} & imports("_plan")
    assert "_mongo" not in imports("_store")
