"""s3explore stores as maggma Stores: wrappers, MSONable, equality, copies, maggma's defaults."""

from __future__ import annotations

import json
import pickle
from urllib.parse import quote_plus

import pytest
from maggma.stores import AliasingStore, ConcatStore, SandboxStore
from maggma.stores import MemoryStore as MaggmaMemoryStore
from monty.json import MontyDecoder, MontyEncoder

import s3explore
from s3explore import (
    BucketNotFoundError,
    ConfigurationError,
    MemoryStore,
    MongoStore,
    MontyStore,
    S3Store,
)
from tests.conftest import CREDENTIALS

SECRETS = {"access": "AKIAKNOWNACCESSKEY", "secret": "kn0wn/Secret+Key=", "token": "tok3n-known",
           "password": "p@ss/w0rd:known"}


def docs(n: int = 6) -> list[dict]:
    return [{"task_id": f"mp-{i}", "formula": "Si" if i % 2 else "NaCl", "nsites": i,
             "elements": ["Si"] if i % 2 else ["Na", "Cl"]} for i in range(n)]


def test_maggma_defaults_key_on_task_id(make_store):
    assert MemoryStore().key == MontyStore("m").key == MongoStore("db", "c").key == "task_id"
    store = make_store(index=MemoryStore("defaults"))
    store.update([{"task_id": "mp-1", "formula": "Si"}])
    assert store.count() == 1 and store.get("mp-1") == {"task_id": "mp-1", "formula": "Si"}


def test_store_attributes_maggma_reads():
    store = MemoryStore("attrs", last_updated_type="isoformat")
    assert store.last_updated_field == "last_updated" and store.validator is None
    parse, render = store._lu_func
    assert parse("2024-01-02T03:04:05.678") .year == 2024
    assert render(parse("2024-01-02T03:04:05.678")) == "2024-01-02T03:04:05.678"
    with pytest.raises(ConfigurationError, match="last_updated_type"):
        MemoryStore("x", last_updated_type="epoch")


def test_aliasing_sandbox_and_concat_stores_wrap_ours(make_store):
    inner = MemoryStore("wrapped")
    aliased = AliasingStore(inner, {"f": "formula"})
    aliased.connect()
    aliased.update(docs())
    assert inner.count({"formula": "Si"}) == 3
    assert sorted(d["task_id"] for d in aliased.query({"f": "Si"})) == ["mp-1", "mp-3", "mp-5"]
    assert aliased.query_one({"task_id": "mp-2"}, ["f"])["f"] == "NaCl"

    sandbox = SandboxStore(MemoryStore("sandboxed"), sandbox="core")
    sandbox.connect()
    sandbox.update(docs(4))
    assert sandbox.count() == 4 and sandbox.store.count({"sbxn": "core"}) == 4

    s3 = make_store(index=MemoryStore("concat-s3"))
    s3.update(docs(3))
    concat = ConcatStore([inner, s3])
    concat.connect()
    assert concat.count() == 9
    assert sorted(concat.distinct("task_id")) == sorted({f"mp-{i}" for i in range(6)})


@pytest.mark.slow
def test_a_maggma_store_is_a_valid_index(s3_server, bucket):
    store = S3Store(MaggmaMemoryStore("maggma-index"), bucket, s3_profile=dict(CREDENTIALS),
                    endpoint_url=s3_server.endpoint_url, searchable_fields=["formula"])
    with store:
        assert store.key == "task_id"
        store.update(docs())
        assert store.count({"formula": "Si"}) == 3
        assert store.query_one({"task_id": "mp-4"})["elements"] == ["Na", "Cl"]


def test_as_dict_round_trips_through_monty_with_nested_stores(s3_server, bucket):
    store = S3Store(MontyStore("idx", database_path="/nonexistent/idx", key="material_id"),
                    bucket, s3_profile="materials", endpoint_url=s3_server.endpoint_url,
                    compress="zstd", sub_dir="runs/2024", s3_workers=7,
                    searchable_fields=["formula"])
    d = store.as_dict()
    assert d["@module"] == "s3explore" and d["@class"] == "S3Store" and d["@version"]
    assert d["index"]["@class"] == "MontyStore"
    text = json.dumps(store, cls=MontyEncoder)
    again = json.loads(text, cls=MontyDecoder)
    assert type(again) is S3Store and again == store and hash(again) == hash(store)
    assert again.index.key == "material_id" and again.sub_dir == "runs/2024/"
    assert S3Store.from_dict(d) == store and s3explore.Store.from_dict(d) == store
    assert store != S3Store.from_dict({**d, "bucket": "other-bucket"})


def test_configured_alike_is_equal():
    assert MemoryStore("a") == MemoryStore("a") and hash(MemoryStore("a")) == hash(MemoryStore("a"))
    assert MemoryStore("a") != MemoryStore("b")
    assert MemoryStore("a", key="material_id") != MemoryStore("a")
    assert MemoryStore("a") != MontyStore("a")
    assert len({MemoryStore("a"), MemoryStore("a"), MemoryStore("b")}) == 2


def secret_stores(endpoint: str) -> list:
    profile = {"aws_access_key_id": SECRETS["access"], "aws_secret_access_key": SECRETS["secret"],
               "aws_session_token": SECRETS["token"]}
    uri = f"mongodb://reader:{quote_plus(SECRETS['password'])}@h/db"
    return [
        S3Store(MemoryStore("s"), "bkt", s3_profile=profile, endpoint_url=endpoint),
        S3Store(MongoStore("db", "c", username="u", password=SECRETS["password"]), "bkt",
                s3_resource_kwargs={"aws_secret_access_key": SECRETS["secret"]}),
        MongoStore.from_uri(uri, "c"),
        MongoStore("db", "c", mongoclient_kwargs={"password": SECRETS["password"]}),
    ]


def test_secrets_never_reach_as_dict_json_or_reprs(s3_server):
    for store in secret_stores(s3_server.endpoint_url):
        outputs = [repr(store.as_dict()), str(store.as_dict()), store.to_json(),
                   json.dumps(store, cls=MontyEncoder), repr(store)]
        for text in outputs:
            for secret in SECRETS.values():
                assert secret not in text and quote_plus(secret) not in text, (
                    type(store).__name__, text)


def test_a_store_from_json_with_inline_credentials_explains_what_to_do(s3_server):
    for store in secret_stores(s3_server.endpoint_url):
        with pytest.raises(ConfigurationError, match="never serialized.*profile"):
            json.loads(json.dumps(store, cls=MontyEncoder), cls=MontyDecoder)


def test_process_copies_keep_credentials_and_drop_connections(make_store):
    store = make_store(index=MemoryStore("copied"))
    store.update(docs(2))
    assert store.objects._engine is not None
    for copy in (pickle.loads(pickle.dumps(store)),
                 MontyDecoder().process_decoded(pickle.loads(pickle.dumps(store.as_dict())))):
        assert copy == store and copy.objects._engine is None
        copy.connect()  # the inline credentials travelled: the copy reads the bucket
        assert copy.get("mp-1")["formula"] == "Si"
        copy.close()


def test_maggma_style_settings(make_store, s3_server):
    store = make_store()
    store.compress = True
    assert store.compression == "zlib" and store.compress
    store.compress = False
    assert store.compression is None and not store.compress
    with pytest.raises(ConfigurationError, match="compress"):
        store.compress = "lz77"
    missing = S3Store(MemoryStore("m"), "no-such-bucket", s3_profile=dict(CREDENTIALS),
                      endpoint_url=s3_server.endpoint_url)
    with pytest.raises(RuntimeError, match="no-such-bucket") as caught:
        missing.connect()
    assert isinstance(caught.value, BucketNotFoundError)
    with pytest.raises(ConfigurationError, match="ssh_tunnel.*not supported"):
        MongoStore("db", "c", ssh_tunnel=object())
    with pytest.raises(ConfigurationError, match="ssh_tunnel.*not supported"):
        S3Store(MemoryStore("m"), "bkt", ssh_tunnel=object())
    store = MongoStore("db", "c", mongoclient_kwargs={"appname": "s3x"}, maxPoolSize=3)
    assert store.mongoclient_kwargs == {"appname": "s3x", "maxPoolSize": 3}
    renamed = S3Store(MemoryStore("m"), "bkt", index_store_kwargs={"key": "material_id"})
    assert renamed.index.key == renamed.key == "material_id"


def test_distinct_all_exist_and_combinations():
    store = MemoryStore("distinct")
    store.connect()
    store.update([*docs(4), {"task_id": "lone"}])
    assert sorted(store.distinct("elements")) == ["Cl", "Na", "Si"]
    pairs = store.distinct(["formula", "nsites"], all_exist=True)
    assert sorted((p["formula"], p["nsites"]) for p in pairs) == [
        ("NaCl", 0), ("NaCl", 2), ("Si", 1), ("Si", 3)]
    assert len(store.distinct(["formula", "nsites"])) == 5  # the lone entry counts as nulls
