"""Security: secrets never rendered, stored data never executed, keys never escape sub_dir.

Secrets are known strings handed to the stores; every rendered output is searched for them:
repr/str/_repr_html_, log records (formatted, with their tracebacks), warnings, and exception
messages with every cause and context a traceback would show.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib.abc
import logging
import socket
import sys
import traceback
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import msgpack
import numpy as np
import pytest

import s3explore
from s3explore import (
    InvalidKeyError,
    MemoryStore,
    MongoStore,
    S3ExploreError,
    S3Store,
    UpdateError,
)
from s3explore.local_s3 import LocalS3

ACCESS_KEY = "AKIAS3XACCESS0001"
SECRET_KEY = "s3x/Secret+Key/0002"
SESSION_TOKEN = "S3xSessionToken0003"
MONGO_PASSWORD = "M0ngo-Pa55-0004"
URI_PASSWORD = "UriPa55w0rd0005"
ENDPOINT_PASSWORD = "EndpointPa55-0006"
AT_PASSWORD = "Pa55@Tail0007"  # an unescaped "@" must not cut the redaction short
SECRETS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, MONGO_PASSWORD, URI_PASSWORD,
           ENDPOINT_PASSWORD, AT_PASSWORD, AT_PASSWORD.split("@")[1])
# botocore's own DEBUG records print signed request headers: Authorization (with the access
# key id) and x-amz-security-token. Those two are out of s3explore's hands (docs/guarantees.md).
BOTOCORE_DEBUG_SHOWS = (ACCESS_KEY, SESSION_TOKEN)

PROFILE = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY,
           "aws_session_token": SESSION_TOKEN, "region_name": "us-east-1"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chain(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception and everything a traceback of it shows (causes and contexts)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def rendered(obj: object) -> list[str]:
    texts = [repr(obj), str(obj)]
    html = getattr(obj, "_repr_html_", None)
    if callable(html):
        texts.append(html() or "")
    if isinstance(obj, BaseException):
        texts.append("".join(traceback.format_exception(obj)))
        for link in chain(obj):
            texts += [repr(link), str(link), *map(str, link.args)]
    return texts


def assert_no_secret(texts: list[str], secrets=SECRETS) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked in: {text[:300]!r}"


class Outputs:
    """Collects everything a scenario renders; ``check()`` searches it for the secrets.

    Every logger records at DEBUG and every warning is kept while the scenario runs.
    """

    def __init__(self, caplog: pytest.LogCaptureFixture, caught: list) -> None:
        self.texts: list[str] = []
        self.caplog = caplog
        self.caught = caught

    def add(self, *objs: object) -> None:
        for obj in objs:
            self.texts += rendered(obj)

    def failing(self, call) -> BaseException:
        try:
            call()
        except S3ExploreError as exc:
            self.add(exc)
            return exc
        raise AssertionError(f"{call} did not fail")

    def check(self) -> None:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        ours, botocore = [], []
        for record in self.caplog.records:
            text = formatter.format(record)  # with the formatted traceback of exc_info
            (botocore if record.name.startswith("botocore") else ours).append(text)
        assert ours, "no s3explore record was captured: the log check would be vacuous"
        assert self.texts
        assert_no_secret(self.texts + ours + [str(w.message) for w in self.caught])
        assert_no_secret(botocore, [s for s in SECRETS if s not in BOTOCORE_DEBUG_SHOWS])


@pytest.fixture
def outputs(caplog) -> Iterator[Outputs]:
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        yield Outputs(caplog, caught)


def test_s3store_with_secret_profile_renders_no_secret(outputs, bucket):
    with LocalS3(access_keys={ACCESS_KEY, "testing"}) as guarded:
        endpoint = guarded.endpoint_url.replace("://", f"://admin:{ENDPOINT_PASSWORD}@")
        store = S3Store(MemoryStore("sec"), bucket, s3_profile=dict(PROFILE),
                        endpoint_url=endpoint, sub_dir="tenant", searchable_fields=["n"])
        outputs.add(store, store.index)
        with store:
            with pytest.raises(UpdateError) as caught:
                store.update([{"task_id": "a", "n": 1}, {"task_id": "b", "n": {1}}, 7,
                              {"task_id": "../x"}, {"task_id": "c", "n": "x" * 3000},
                              {"task_id": "d", "n": 4}])
            result = caught.value.result
            assert len(result.failures) == 4
            outputs.add(caught.value)
            outputs.add(store.get_object("d"))
            outputs.add(result, *result.failures, *(f.error for f in result.failures))
            guarded.client().delete_object(Bucket=bucket, Key="tenant/a")
            assert [d["task_id"] for d in store.query()] == ["d"]  # logs the missing "a"
            outputs.failing(lambda: store.get("a"))
            outputs.failing(lambda: list(store.query(on_missing="raise")))
            outputs.failing(lambda: store.query({"$where": "1"}))
            report = store.verify(repair=True)  # logs its plan
            outputs.add(report)
        outputs.add(store)
    outputs.check()


def test_rejected_credentials_render_no_secret(outputs, bucket):
    with LocalS3(access_keys={"someone-else"}) as guarded:
        store = S3Store(MemoryStore("rej"), bucket, s3_profile=dict(PROFILE),
                        endpoint_url=guarded.endpoint_url)
        outputs.failing(store.connect)
        outputs.add(store)
    logging.getLogger("s3explore").debug("rejected-credentials scenario done")
    outputs.check()


@pytest.mark.parametrize("endpoint", [
    "http://admin:{password}@127.0.0.1:{port}",
    "http://admin:{password}@exa mple.invalid",
    "http://admin:{password}@[::1",
    "ftp://admin:{password}@127.0.0.1:{port}",
], ids=["unreachable", "invalid-host", "invalid-ipv6", "wrong-scheme"])
@pytest.mark.slow
def test_bad_endpoints_with_credentials_render_no_secret(outputs, endpoint):
    endpoint = endpoint.format(password=ENDPOINT_PASSWORD, port=closed_port())

    def connect() -> None:
        store = S3Store(MemoryStore("ep"), "some-bucket", s3_profile=dict(PROFILE),
                        endpoint_url=endpoint)
        outputs.add(store)
        store.connect()

    error = outputs.failing(connect)
    # the endpoint is still named, without its credentials
    assert endpoint.split("@", 1)[1] in str(error)
    logging.getLogger("s3explore").debug("endpoint scenario done")  # the log check's anchor
    outputs.check()


@pytest.mark.slow
def test_mongo_credentials_render_no_secret(outputs):
    port = closed_port()
    by_field = MongoStore("db", "entries", host="127.0.0.1", port=port, username="reader",
                          password=MONGO_PASSWORD, serverSelectionTimeoutMS=200)
    by_uri = MongoStore.from_uri(f"mongodb://reader:{URI_PASSWORD}@127.0.0.1:{port}/db",
                                 "entries", serverSelectionTimeoutMS=200)
    unescaped = MongoStore.from_uri(f"mongodb://reader:{AT_PASSWORD}@127.0.0.1:{port}/db",
                                    "entries", database="db", serverSelectionTimeoutMS=200)
    for index in (by_field, by_uri, unescaped):
        outputs.add(index, index.name)
        outputs.failing(index.connect)
        s3 = S3Store(index, "some-bucket", s3_profile=dict(PROFILE))
        outputs.add(s3, s3.name)
    outputs.failing(lambda: MongoStore.from_uri(
        f"mongodb://reader:{URI_PASSWORD}@127.0.0.1:notaport/db", "entries"))
    logging.getLogger("s3explore").debug("mongo scenario done")
    assert by_uri.database == "db"
    outputs.check()


def test_credentials_are_not_kept_in_plain_attributes():
    """What a notebook user sees with vars() or a widget that lists attributes."""
    store = S3Store(MongoStore("db", "c", username="u", password=MONGO_PASSWORD), "bkt",
                    s3_profile=dict(PROFILE))
    public = {k: v for k, v in vars(store).items() if not k.startswith("_")}
    public.update({k: v for k, v in vars(store.index).items() if not k.startswith("_")})
    assert_no_secret([repr(public)])
    assert store.s3_profile is None


# ------------------------------------------------------------------ decoding stored data


class _ImportSpy(importlib.abc.MetaPathFinder):
    """Records every module the interpreter is asked to import while installed."""

    def __init__(self) -> None:
        self.requested: list[str] = []

    def find_spec(self, fullname, path, target=None):
        self.requested.append(fullname)
        return None  # let the real finders do the work


NOT_IMPORTED = "s3x_planted_module"  # does not exist: only an import attempt would notice it


def hostile_values(sentinel: Path) -> list[dict]:
    return [
        {"@module": "os", "@class": "system", "command": f"touch {sentinel}"},
        {"@module": "subprocess", "@class": "Popen", "args": ["touch", str(sentinel)]},
        {"@module": "builtins", "@class": "eval", "source": f"open({str(sentinel)!r}, 'w')"},
        {"@module": "builtins", "@class": "exec", "source": f"open({str(sentinel)!r}, 'w')"},
        {"@module": NOT_IMPORTED, "@class": "Anything", "x": 1},
        {"@module": "colorsys", "@class": "rgb_to_hls", "r": 1, "g": 0, "b": 0},
        {"@module": "datetime", "@class": "timedelta", "days": 1},
        {"@module": "numpy", "@class": "load", "file": str(sentinel)},
        {"@module": "pathlib", "@class": "PosixPath", "string": "/etc"},
        {"@module": "monty.json", "@class": "MontyDecoder"},
    ]


def test_decoding_never_imports_or_calls_what_the_data_names(make_store, s3_server, bucket,
                                                              tmp_path):
    sentinel = tmp_path / "pwned"
    hostile = hostile_values(sentinel)
    allowed = {"when": dt.datetime(2024, 5, 6, 7, 8, 9), "id": uuid.UUID(int=7),
               "where": Path("/data/run"), "array": np.arange(3.0)}
    store = make_store(compress=True)
    assert store.update([{"task_id": "hostile", "payload": hostile, "nested": {"deep": hostile},
                          **allowed}]).ok
    s3_server.client().put_object(  # written by some other tool: no metadata, plain msgpack
        Bucket=bucket, Key="foreign", Body=msgpack.packb({"task_id": "foreign", "p": hostile}))
    # Modules already loaded never reach the import machinery; these have not been.
    absent = [m for m in ("colorsys", NOT_IMPORTED, "monty", "monty.json") if m not in sys.modules]
    assert NOT_IMPORTED in absent

    spy = _ImportSpy()
    sys.meta_path.insert(0, spy)
    try:
        via_get = store.get("hostile")
        via_query = next(store.query({"task_id": "hostile"}))
        via_many = next(store.get_many(["hostile"]))
        foreign = store.get("foreign")
    finally:
        sys.meta_path.remove(spy)

    for doc in (via_get, via_query, via_many):
        assert doc["payload"] == hostile and doc["nested"] == {"deep": hostile}  # plain dicts
        assert all(type(v) is dict for v in doc["payload"])
        assert doc["when"] == allowed["when"] and doc["id"] == allowed["id"]  # allow-list
        assert doc["where"] == allowed["where"]
        np.testing.assert_array_equal(doc["array"], allowed["array"])
    assert foreign["p"] == hostile
    assert not sentinel.exists(), "a constructor named in the data ran"
    named = {v["@module"] for v in hostile}
    attempted = [m for m in spy.requested if m in named or m.split(".")[0] in named]
    assert attempted == [], f"decoding tried to import {attempted}"
    assert [m for m in absent if m in sys.modules] == []


# ------------------------------------------------------------------ no pickle, no eval

FORBIDDEN_MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve",
                     "joblib", "jsonpickle"}
FORBIDDEN_CALLS = {"eval", "exec", "__import__", "import_module", "read_pickle", "to_pickle",
                   "loads_pickle", "find_class"}


def package_sources() -> list[Path]:
    return sorted(Path(s3explore.__file__).parent.rglob("*.py"))


def test_no_pickle_eval_or_dynamic_import_anywhere_in_the_package():
    sources = package_sources()
    assert len(sources) > 10
    problems = []
    for path in sources:
        text = path.read_text()
        if "pickle" in text.lower():
            problems.append(f"{path.name}: mentions pickle")
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                names = set()
            problems += [f"{path.name}:{node.lineno}: imports {n}"
                         for n in names & FORBIDDEN_MODULES]
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name in FORBIDDEN_CALLS:
                    problems.append(f"{path.name}:{node.lineno}: calls {name}()")
    assert problems == []


def test_the_source_scan_would_notice_pickle(tmp_path):
    """The scan above is only worth something if it catches what it looks for."""
    planted = tmp_path / "planted.py"
    planted.write_text("import pickle as p\nfrom importlib import import_module\n"
                       "x = eval('1')\ny = import_module('os')\n")
    tree = ast.parse(planted.read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    calls = {getattr(n.func, "id", getattr(n.func, "attr", None))
             for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert "pickle" in imported & FORBIDDEN_MODULES
    assert {"eval", "import_module"} <= calls & FORBIDDEN_CALLS


# ------------------------------------------------------------------ keys and sub_dir

ESCAPES = ["../outside", "a/../../outside", "./outside", "/outside", "a/./b", "..", "a/..",
           "x/../../../etc/passwd", "a//../b", "\x00/../outside"]


@pytest.fixture
def tenant(make_store, s3_server, bucket) -> S3Store:
    raw = s3_server.client()
    raw.put_object(Bucket=bucket, Key="outside", Body=msgpack.packb({"task_id": "outside",
                                                                     "secret": 42}))
    raw.put_object(Bucket=bucket, Key="other-tenant/doc", Body=msgpack.packb({"secret": 43}))
    store = make_store(sub_dir="tenant")
    assert store.update([{"task_id": "mine", "v": 1}]).ok
    return store


def objects(s3_server: LocalS3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"])


def test_keys_cannot_escape_the_sub_dir_on_write(tenant, s3_server, bucket):
    before = objects(s3_server, bucket)
    result = tenant.update([{"task_id": key, "v": 2} for key in ESCAPES], errors="collect")
    assert result.written == 0
    assert [type(f.error) for f in result.failures] == [InvalidKeyError] * len(ESCAPES)
    assert objects(s3_server, bucket) == before
    assert tenant.count() == 1


@pytest.mark.parametrize("key", ["../outside", "../other-tenant/doc", "a/../../outside"])
@pytest.mark.slow
def test_keys_cannot_escape_the_sub_dir_on_read(tenant, key):
    for read in (lambda: tenant.get(key), lambda: tenant.get_object(key),
                 lambda: list(tenant.get_many([key]))):
        with pytest.raises(InvalidKeyError, match="'..' path segment"):
            read()


def test_a_tampered_index_entry_cannot_reach_outside_the_sub_dir(tenant, s3_server, bucket):
    tenant.index.collection.insert_one({"task_id": "../outside"})
    with pytest.raises(InvalidKeyError, match="'../outside'"):
        list(tenant.query())
    before = objects(s3_server, bucket)
    tenant.remove_docs({"task_id": "../outside"}, remove_s3_object=True)
    assert objects(s3_server, bucket) == before  # "outside" was not deleted
    report = tenant.verify(repair=True)
    assert report.objects == 1 and objects(s3_server, bucket) == before
