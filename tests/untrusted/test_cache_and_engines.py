"""Local cache folders that never mix two URLs, builds that survive a twin, and engine
errors in our words. The tests that talk to S3 run on the production server too."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap

import dask
import pytest

import s3explore
from s3explore import DuckDBStore, MemoryStore
from s3explore._errors import StoreConnectionError
from s3explore._stores._opendata._manifest import cache_folder
from tests.opendata import layouts


def _names(root, pairs):
    return [cache_folder(root, "http://127.0.0.1:9000", b, p) for b, p in pairs]


def test_distinct_urls_never_share_a_cache_folder(tmp_path):
    pairs = [("b", ""), ("b", "_root"), ("b", "_root/"), ("b", "a/b"), ("b", "a_b"),
             ("b", "a%2Fb"), ("b", "A/B"), ("b_a", "b"), ("b", "a_b"), ("b", "é" * 120)]
    folders = _names(tmp_path, pairs)
    assert folders[2] == folders[1]  # the same prefix (slashes around it are not part of it)
    assert folders[8] == folders[4]
    distinct = {f for i, f in enumerate(folders) if i not in (2, 8)}
    assert len(distinct) == len(pairs) - 2
    other = cache_folder(tmp_path, "http://127.0.0.1:9001", "b", "a/b")
    assert other != folders[3]
    for folder in folders:
        assert all(len(part.encode()) <= 80 for part in folder.relative_to(tmp_path).parts)
        assert folder.name.isascii()
    assert folders[3].name.startswith("b_a_b-")  # a readable stem


@pytest.mark.real_s3
def test_a_long_non_ascii_prefix_opens(s3_server, bucket, tmp_path):
    client = s3_server.client()
    layouts.make_public(client, bucket)
    prefix = "données-" + "é" * 112  # 120 characters, 232 bytes in UTF-8
    layouts.upload(client, bucket, {f"{prefix}/mp-{i}.json": json.dumps(
        {"task_id": f"mp-{i}"}).encode() for i in range(3)})
    store = s3explore.open(f"s3://{bucket}/{prefix}", anonymous=True,
                           endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)
    with store:
        assert store.count() == 3


_BUILD = """
import json, sys, s3explore
store = s3explore.open(sys.argv[1], anonymous=True, endpoint_url=sys.argv[2],
                       cache_dir=sys.argv[3], workers=2, publish=False)
print(json.dumps([store.count(), store.found]))
"""


def _twin_prefix(s3_server, bucket, n=1500):
    client = s3_server.client()
    layouts.make_public(client, bucket)
    layouts.upload(client, bucket, {f"twin/mp-{i:04d}.json": json.dumps(
        {"task_id": f"mp-{i:04d}", "n": i}).encode() for i in range(n)})
    return f"s3://{bucket}/twin"


def _manifest_and_listing(cache):
    """The manifest in place, whole, and the listing that belongs to it."""
    from s3explore._stores._opendata import _fresh, _index
    from s3explore._stores._opendata._manifest import read_parquet

    manifest = next(cache.rglob("manifest.parquet"))
    entries = read_parquet(str(manifest)).entries
    listing = _fresh.read_listing(manifest.parent, _index.local_fingerprint(manifest))
    return manifest.parent, entries, listing


@pytest.mark.real_s3
def test_two_processes_building_one_prefix_both_succeed(s3_server, bucket, tmp_path):
    """Two real processes build one prefix at once, each in a folder of its own: both
    finish, the manifest is one of theirs, whole, beside its own listing, nothing is left."""
    url = _twin_prefix(s3_server, bucket)
    for round_ in range(2):
        cache = tmp_path / f"cache-{round_}"
        args = [url, s3_server.endpoint_url, str(cache)]
        runs = [subprocess.Popen([sys.executable, "-c", _BUILD, *args], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for run in runs:
            out, err = run.communicate(timeout=240)
            assert run.returncode == 0, err[-3000:]
            assert "FileNotFoundError" not in err
            count, found = json.loads(out.strip().splitlines()[-1])
            assert count == 1500, found
        folder, entries, listing = _manifest_and_listing(cache)
        assert sorted(e["task_id"] for e in entries) == [f"mp-{i:04d}" for i in range(1500)]
        assert listing is not None and len(listing) == 1500
        assert [p.name for p in cache.rglob("*.tmp")] == []
        assert not (folder / "builds").exists()  # each build removed its own folder


_KILLED = """
import os, signal, sys, s3explore

class DieMidway(s3explore.Callback):
    done = 0
    def advance(self, docs=0, nbytes=0, failed=0):
        self.done += docs
        if self.done >= 1200:  # the first 1,000 entries are in a part by now
            os.kill(os.getpid(), signal.SIGKILL)

s3explore.open(sys.argv[1], anonymous=True, endpoint_url=sys.argv[2], cache_dir=sys.argv[3],
               workers=2, publish=False, progress=DieMidway())
"""


@pytest.mark.real_s3
def test_a_build_killed_midway_is_resumed_by_the_next(s3_server, bucket, tmp_path):
    """A build that dies leaves its folder unlocked: the next build adopts its parts."""
    url = _twin_prefix(s3_server, bucket)
    args = [url, s3_server.endpoint_url, str(tmp_path)]
    killed = subprocess.run([sys.executable, "-c", _KILLED, *args], capture_output=True,
                            text=True, timeout=240)
    assert killed.returncode == -9, killed.stderr[-3000:]
    parts = list(tmp_path.rglob("builds/*/part-*.parquet"))
    assert len(parts) == 1
    done = subprocess.run([sys.executable, "-c", _BUILD, *args], capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    count, found = json.loads(done.stdout.strip().splitlines()[-1])
    assert count == 1500 and "(1000 from an earlier run)" in found
    assert list(tmp_path.rglob("builds")) == []


@pytest.mark.parametrize("cut", [1000, 0.5])
@pytest.mark.parametrize("read_only", [True, False])
def test_a_truncated_duckdb_file_is_our_error(tmp_path, cut, read_only):
    path = tmp_path / "i.duckdb"
    with DuckDBStore("c", path=str(path), key="key") as store:
        store.update([{"key": str(i), "v": i} for i in range(5000)])
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut) if isinstance(cut, float) else cut])
    store = DuckDBStore("c", path=str(path), key="key", read_only=read_only)
    with pytest.raises(StoreConnectionError) as info:
        store.connect()
    message = str(info.value)
    assert str(path.name) in message and "damaged" in message and "rebuild" in message


@pytest.mark.real_s3
def test_a_damaged_cached_manifest_index_is_built_again(s3_server, bucket, tmp_path):
    client = s3_server.client()
    layouts.make_public(client, bucket)
    docs = [layouts.material(i) for i in range(30)]
    layouts.upload(client, bucket, layouts.grouped_bodies("g", docs))
    url = f"s3://{bucket}/g"
    kw = dict(anonymous=True, endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)
    with s3explore.open(url, **kw) as store:
        assert store.count() == 30
    cached = list(tmp_path.rglob("index-*.duckdb"))
    assert len(cached) == 1
    cached[0].write_bytes(cached[0].read_bytes()[:1000])
    with pytest.warns(UserWarning, match="damaged"):
        store = s3explore.open(url, **kw)
    with store:
        assert store.count() == 30


def test_map_objects_errors_name_the_document():
    index = MemoryStore("map-errors")
    with index:
        index.update([{"task_id": f"k{i:02d}", "x": i} for i in range(20)])

        def inverse(doc):
            return 1 / (doc["x"] - 13)

        with dask.config.set(scheduler="sync"), pytest.raises(ZeroDivisionError) as info:
            index.map_objects(inverse, partition_size=5).compute()
    assert info.value.s3explore_key == "k13"
    note = " ".join(getattr(info.value, "__notes__", []))
    assert "task_id = 'k13'" in note and "inverse" in note


def test_map_objects_key_note_survives_a_process_boundary(tmp_path):
    path = tmp_path / "m.duckdb"
    with DuckDBStore("m", path=str(path)) as writer:
        writer.update([{"task_id": i, "x": i} for i in range(6)])
    code = textwrap.dedent(f"""
        from s3explore import DuckDBStore
        import dask
        index = DuckDBStore("m", path={str(path)!r}, read_only=True)
        index.connect()
        def f(doc):
            if doc["x"] == 4:
                raise KeyError("boom")
            return doc["x"]
        with dask.config.set(scheduler="processes", num_workers=2):
            try:
                index.map_objects(f, partition_size=2).compute()
            except KeyError as exc:
                print("KEY", exc.s3explore_key, exc.__notes__[0][:60])
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=240)
    assert "KEY 4 raised by map_objects' func f for the document" in done.stdout, done.stderr


def test_twin_builders_never_touch_each_others_parts(tmp_path):
    """A live build's parts are its own (its folder is locked): a twin finishing meanwhile
    leaves them alone, and a new build adopts only the parts of builds that are gone."""
    from s3explore._stores._opendata import _build, _fresh
    from s3explore._stores._opendata._manifest import Layout, read_parquet

    layout = Layout("json-objects", "task_id")
    folder = tmp_path / "m"
    listed = {n: _fresh.Listed(f"etag-{n}", 10) for n in ("a.json", "b.json", "c.json")}

    def entry(name, etag=None):  # as a build writes it: with the object's upload time
        return {"task_id": name[0], "obj_etag": etag or f"etag-{name}", _build.OBJECT: name,
                _build.OBJECT_SIZE: 10, _build.S3_LAST_MODIFIED: dt.datetime(2024, 1, 1)}

    first, second = (_build.Builder(None, layout, folder, listed=listed) for _ in range(2))
    first.write_part([entry("a.json")])
    second.write_part([entry("b.json")])
    assert first.parts != second.parts
    path, _ = first.finish([entry("a.json")])  # removes its own folder only
    assert [p.name for p in second.parts.glob("part-*")] != []
    third = _build.Builder(None, layout, folder, listed=listed)
    assert third.done() == []  # second is alive: its parts are not taken
    second.release(remove=False)  # second dies
    # an entry whose object changed since is not resumed: its object is read again
    dead = _build.Builder(None, layout, folder, listed=listed)
    dead.write_part([entry("c.json", etag="an older body")])
    dead.release(remove=False)
    again = _build.Builder(None, layout, folder, listed=listed)  # b.json read twice, both dead
    again.write_part([entry("b.json")])
    again.release(remove=False)
    assert sorted(e["task_id"] for e in third.done()) == ["b"]
    third.release(remove=False)  # third dies too; its parts hold b.json
    reusing = _build.Builder(None, layout, folder, listed=listed, reuse={"b.json": []})
    assert reusing.done() == []  # an object whose entries are kept is not taken twice
    reusing.release(remove=False)
    last = _build.Builder(None, layout, folder, listed=listed)
    resumed = last.done()
    assert sorted(e["task_id"] for e in resumed) == ["b"]
    path, _ = last.finish([*resumed, entry("a.json")])
    assert sorted(e["task_id"] for e in read_parquet(str(path)).entries) == ["a", "b"]
    assert list(folder.rglob("*.tmp")) == [] and not (folder / "builds").exists()
