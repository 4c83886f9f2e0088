"""The embedded demo: reproducible, realistic documents in a store that cleans up after itself."""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from s3explore import ConfigurationError, NotConnectedError, S3Store, _codec
from s3explore.demo import DEMO_KEY, DEMO_SEARCHABLE_FIELDS, demo_documents, demo_store
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


@pytest.mark.parametrize("bad", [{"n": -1}, {"n": "10"}, {"n": True}, {"seed": 1.5}])
def test_bad_arguments_name_the_argument_before_a_server_starts(bad, monkeypatch):
    name = next(iter(bad))
    with pytest.raises(ConfigurationError, match=rf"^{name} "):
        demo_documents(**bad)
    started = []
    monkeypatch.setattr(LocalS3Process, "start", lambda self: started.append(self))
    with pytest.raises(ConfigurationError, match=rf"^{name} "):
        demo_store(**bad)
    assert started == []


@pytest.fixture(scope="module")
def small_demo():
    store = demo_store(n=60, seed=3)
    yield store
    store.close()


def test_demo_store_holds_the_documents(small_demo):
    expected = {d[DEMO_KEY]: d for d in demo_documents(60, seed=3)}
    assert isinstance(small_demo, S3Store)
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
