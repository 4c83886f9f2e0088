"""The embedded demo: reproducible, realistic documents in a store that cleans up after itself."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s3explore import (
    ConfigurationError,
    DuckDBStore,
    MemoryStore,
    NotConnectedError,
    S3Store,
    _codec,
)
from s3explore._checks import ArgumentError
from s3explore.demo import (
    DEMO_KEY,
    DEMO_SEARCHABLE_FIELDS,
    demo_documents,
    demo_server_pid,
    demo_store,
)
from s3explore.local_s3 import LocalS3Process

# Space group number ranges of the seven crystal systems (International Tables).
SPACE_GROUPS = {"Triclinic": (1, 2), "Monoclinic": (3, 15), "Orthorhombic": (16, 74),
                "Tetragonal": (75, 142), "Trigonal": (143, 167), "Hexagonal": (168, 194),
                "Cubic": (195, 230)}


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    return demo_documents(300, seed=0)


def test_same_seed_same_documents_other_seed_other_documents():
    first, again, other = demo_documents(25, 7), demo_documents(25, 7), demo_documents(25, 8)
    assert [_codec.pack(d) for d in first] == [_codec.pack(d) for d in again]
    assert [d[DEMO_KEY] for d in first] != [d[DEMO_KEY] for d in other]


def test_keys_are_unique_material_ids(documents):
    keys = [d[DEMO_KEY] for d in documents]
    assert all(re.fullmatch(r"mp-[1-9]\d*", k) for k in keys)
    assert len(set(keys)) == len(keys)


def test_composition_fields_agree(documents):
    for doc in documents:
        elements = doc["elements"]
        assert elements == sorted(elements) and len(set(elements)) == len(elements)
        assert doc["nelements"] == len(elements) == len(doc["composition"])
        assert doc["chemsys"] == "-".join(elements)
        species = doc["structure"]["species"]
        assert doc["nsites"] == len(species) == sum(doc["composition"].values())
        assert Counter(species) == doc["composition"]
        # The reduced formula names each element with its reduced count.
        parsed = dict(re.findall(r"([A-Z][a-z]?)(\d*)", doc["formula"]))
        assert sorted(parsed) == elements
        counts = {el: int(n or 1) for el, n in parsed.items()}
        ratio = doc["composition"][elements[0]] / counts[elements[0]]
        assert all(doc["composition"][el] == counts[el] * ratio for el in elements)


def test_structure_arrays_and_derived_quantities(documents):
    for doc in documents:
        matrix = doc["structure"]["lattice"]["matrix"]
        coords = doc["structure"]["frac_coords"]
        assert isinstance(matrix, np.ndarray) and matrix.shape == (3, 3)
        assert matrix.dtype == np.float64
        assert isinstance(coords, np.ndarray) and coords.shape == (doc["nsites"], 3)
        assert coords.min() >= 0 and coords.max() <= 1
        assert abs(np.linalg.det(matrix)) == pytest.approx(doc["volume"], rel=1e-4)
        per_atom = doc["volume"] / doc["nsites"]
        assert 5 < per_atom < 80  # Å^3 per atom: the range of real solids
        assert 0.3 < doc["density"] < 25  # g/cm^3


def test_symmetry_is_consistent(documents):
    systems = Counter()
    for doc in documents:
        symmetry = doc["symmetry"]
        low, high = SPACE_GROUPS[symmetry["crystal_system"]]
        assert low <= symmetry["number"] <= high, symmetry
        assert isinstance(symmetry["symbol"], str) and symmetry["symbol"]
        systems[symmetry["crystal_system"]] += 1
    assert set(systems) == set(SPACE_GROUPS)


def test_electronic_structure(documents):
    for doc in documents:
        gap = doc["band_gap"]
        assert gap >= 0
        assert doc["is_metal"] == (gap == 0)
        assert doc["is_stable"] == (doc["energy_above_hull"] == 0)
        assert doc["energy_per_atom"] < 0
        if doc["nelements"] == 1:
            assert doc["formation_energy_per_atom"] == 0
        dos = doc["dos"]
        energies, densities = dos["energies"], dos["densities"]
        assert energies.dtype == densities.dtype == np.float64
        assert energies.shape == densities.shape and 200 <= energies.size <= 500
        assert np.all(np.diff(energies) > 0) and densities.min() >= 0
        inside_gap = (energies - dos["efermi"] > 0) & (energies - dos["efermi"] < gap)
        assert not densities[inside_gap].any()
    metals = sum(d["is_metal"] for d in documents)
    assert 0 < metals < len(documents)


def test_last_updated_are_datetimes_in_a_plausible_range(documents):
    for doc in documents:
        assert isinstance(doc["last_updated"], dt.datetime)
        assert dt.datetime(2019, 1, 1) <= doc["last_updated"] < dt.datetime(2025, 1, 1)


@pytest.mark.parametrize("bad", [{"n": -1}, {"n": "10"}, {"n": True}, {"seed": 1.5},
                                 {"seed": -1}])
def test_bad_arguments_name_the_argument_before_a_server_starts(bad, monkeypatch):
    name = next(iter(bad))
    with pytest.raises(ArgumentError, match=rf"^{name} must be a whole number >= 0, got"):
        demo_documents(**bad)
    started = []
    monkeypatch.setattr(LocalS3Process, "start", lambda self: started.append(self))
    with pytest.raises(ArgumentError, match=rf"^{name} "):
        demo_store(**bad)
    assert started == []


@pytest.mark.parametrize(("bad", "match"), [
    ({"workers": 0}, r"^workers must be a whole number >= 1, got 0"),
    ({"workers": 2.0}, r"^workers must be a whole number >= 1, got 2.0"),
    ({"compress": "rar"}, r"^compress='rar' is not supported"),
])
def test_store_settings_are_checked_before_a_server_starts(bad, match, monkeypatch):
    started = []
    monkeypatch.setattr(LocalS3Process, "start", lambda self: started.append(self))
    with pytest.raises(ConfigurationError, match=match):
        demo_store(n=1, **bad)
    assert started == []


@pytest.fixture
def small_demo():
    store = demo_store(n=60, seed=3)
    yield store
    store.close()


def test_demo_store_holds_the_documents(small_demo):
    expected = {d[DEMO_KEY]: d for d in demo_documents(60, seed=3)}
    assert isinstance(small_demo, S3Store)
    assert isinstance(small_demo.index, DuckDBStore)
    assert small_demo.count() == 60
    assert set(small_demo.distinct(DEMO_KEY)) == set(expected)
    key = sorted(expected)[5]
    stored = small_demo.get(key)
    original = dict(expected[key])
    del original["last_updated"]  # lives in the index only (maggma's layout)
    assert _codec.pack(stored) == _codec.pack(original)


def test_demo_index_holds_the_searchable_fields_only(small_demo):
    entry = small_demo.index.query_one({})
    assert set(DEMO_SEARCHABLE_FIELDS) <= set(entry)
    assert not {"structure", "dos", "composition"} & set(entry)
    assert small_demo.count({"band_gap": {"$gt": 0}}) + small_demo.count({"is_metal": True}) == 60


def test_demo_index_gives_a_typed_frame(small_demo):
    frame = small_demo.query_df(fields=["nsites", "band_gap", "symmetry.crystal_system",
                                        "last_updated"])
    assert len(frame) == 60
    assert pd.api.types.is_integer_dtype(frame["nsites"])
    assert pd.api.types.is_float_dtype(frame["band_gap"])
    assert pd.api.types.is_datetime64_any_dtype(frame["last_updated"])
    assert set(frame["symmetry.crystal_system"]) <= set(SPACE_GROUPS)


def _port_open(endpoint_url: str) -> bool:
    host, port = endpoint_url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


def test_close_deletes_the_bucket_and_stops_the_server():
    store = demo_store(n=5, seed=1)
    bucket, endpoint, server = store.bucket, store.endpoint_url, store.server
    assert bucket in {b["Name"] for b in server.client().list_buckets()["Buckets"]}
    assert _port_open(endpoint)
    buckets_at_stop = []
    stop = server.stop

    def stop_and_look() -> None:  # what the server holds just before it goes away
        buckets_at_stop.extend(b["Name"] for b in server.client().list_buckets()["Buckets"])
        stop()

    server.stop = stop_and_look
    store.close()
    assert bucket not in buckets_at_stop
    assert not _port_open(endpoint)
    assert server.pid is None  # the server process was stopped and reaped
    store.close()  # a second close is harmless
    with pytest.raises(NotConnectedError, match="demo_store"):
        store.connect()


def test_with_block_closes(s3_server):
    with demo_store(n=3, seed=2) as store:
        assert store.count() == 3
        endpoint = store.endpoint_url
    assert not _port_open(endpoint)


def test_two_demo_stores_are_independent():
    with demo_store(n=4, seed=1) as first, demo_store(n=6, seed=1) as second:
        assert first.bucket != second.bucket
        assert (first.count(), second.count()) == (4, 6)


def test_demo_objects_and_entries_are_what_update_writes(small_demo):
    """The demo loads its bucket in batches, bypassing PUTs: what lands must be exactly what
    S3Store.update stores (bodies, metadata, index entries), and verify() must agree."""
    server = small_demo.server
    bucket = server.create_bucket("s3explore-demo-reference")
    reference = S3Store(MemoryStore("demo-reference", key=DEMO_KEY), bucket,
                        s3_profile=server.credentials, endpoint_url=server.endpoint_url,
                        compress=True, key=DEMO_KEY, searchable_fields=DEMO_SEARCHABLE_FIELDS)
    with reference:
        reference.update(demo_documents(60, seed=3))
        client = server.client()
        keys = sorted(small_demo.distinct(DEMO_KEY))
        assert keys == sorted(reference.distinct(DEMO_KEY))
        for key in keys[:10]:
            ours = client.get_object(Bucket=small_demo.bucket, Key=key)
            theirs = client.get_object(Bucket=bucket, Key=key)
            assert ours["Body"].read() == theirs["Body"].read()
            assert ours["Metadata"] == theirs["Metadata"] != {}
            assert ours["ETag"] == theirs["ETag"]
        ours = {e[DEMO_KEY]: e for e in small_demo.index.query()}
        theirs = {e[DEMO_KEY]: e for e in reference.index.query()}
        assert ours == theirs
        for key in keys:
            client.delete_object(Bucket=bucket, Key=key)
    client.delete_bucket(Bucket=bucket)
    report = small_demo.verify()
    assert report.ok, report


def _local_s3_children() -> list[int]:
    """Process ids of this process's children running the local S3 server."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"s3explore.local_s3" in cmdline:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_demo_store_twice_leaves_one_server_process():
    """Re-running a notebook's demo_store() cell reuses the server instead of adding one."""
    assert _local_s3_children() == []
    first = demo_store(n=4, seed=1)
    second = demo_store(n=6, seed=1)
    try:
        assert _local_s3_children() == [demo_server_pid()]
        assert first.server is second.server and first.bucket != second.bucket
        assert (first.count(), second.count()) == (4, 6)
        first.close()  # its bucket goes, the server stays for the other store
        assert first.bucket not in {b["Name"] for b in
                                    second.server.client().list_buckets()["Buckets"]}
        assert second.count() == 6 and len(list(second.get_many(second.distinct(DEMO_KEY)))) == 6
        assert _local_s3_children() == [demo_server_pid()]
    finally:
        first.close()
        second.close()
    assert _local_s3_children() == [] and demo_server_pid() is None


def test_a_dead_server_is_replaced():
    first = demo_store(n=2, seed=1)
    os.kill(first.server.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while first.server.running and time.monotonic() < deadline:
        time.sleep(0.05)
    with demo_store(n=3, seed=1) as second:
        assert second.server is not first.server and second.count() == 3
    first.close()  # its server is gone already: closing still releases what it can
    assert demo_server_pid() is None


# ---------------------------------------------------------------- the demo notebooks' widgets

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _run(name: str):
    from s3explore._cli import run_notebook

    result = run_notebook(NOTEBOOKS / name, timeout=300)
    assert result.ok, f"{name}: {result.error}"
    return result.notebook


def _cell(notebook, starts: str):
    return next(c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(starts))


def _stream(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream")


def test_scale_out_notebook_shows_its_dask_progress_bars():
    """``progress(...)`` is the last expression of its cell, so Jupyter displays the bar."""
    notebook = _run("04-scale-out.ipynb")
    for starts in ("running = frame.persist()", "def states_below_fermi"):
        cell = _cell(notebook, starts)
        assert cell.source.rstrip().splitlines()[-1].startswith("progress(")
        assert any(WIDGET_VIEW in o.get("data", {}) for o in cell.outputs), starts


def test_upload_notebook_keeps_the_failures_shown_and_explains_the_count():
    notebook = _run("03-bulk-upload.ipynb")
    state = notebook.metadata.widgets[WIDGET_STATE]["state"]
    statuses = [m["state"]["value"] for m in state.values() if m["model_name"] == "HTMLModel"
                and "s3x-status" in m["state"].get("_dom_classes", [])]
    bars = {m["state"]["description"]: m["state"]["bar_style"] for m in state.values()
            if m["model_name"] == "IntProgressModel"}
    # The folder's widget still lists its 3 failures beside the text that says so (the rerun
    # has a widget of its own), in orange: 200 of 203 landed.
    assert any(s.startswith("Done: 200 of 203 documents written") and "3 failed" in s
               for s in statuses)
    assert any("3 document(s) not stored" in m["state"]["value"] for m in state.values()
               if m["model_name"] == "HTMLModel")
    assert "warning" in bars.values()
    # the rerun sends only the three fixed files
    assert any(s.startswith("Done: 3 of 203 documents written") and "200 already stored" in s
               for s in statuses)
    rerun = _stream(_cell(notebook, "rerun.start()"))
    shared = int(re.search(r"(\d+) of their keys are in the DataFrame too",
                           _stream(_cell(notebook, "def as_json"))).group(1))
    assert shared > 0
    assert f"indexed: {500 + 200 + 3 - shared} = 500 + 200 + 3 - {shared}" in rerun
    failures = _stream(_cell(notebook, "from_folder.start()"))
    assert "- truncated.json is not valid JSON" in failures
    assert failures.count("truncated.json") == 1
