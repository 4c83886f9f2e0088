"""Public-style buckets on the local endpoint, filled once per session and server."""

from __future__ import annotations

import os

import pytest

from tests.opendata import layouts

N_GROUPED = 10_000
N_JSON = 1_500


@pytest.fixture(scope="session")
def public_bucket(s3_server):
    """A public-read bucket holding both public layouts. The tests only read it (anonymous
    requests cannot write), so one filling serves every module. ``put_many`` stores what a
    PUT stores (moto's in one request: 1,500 PUTs one by one take 4 s)."""
    name = f"opendata-{os.getpid()}-{abs(hash(os.urandom(4))) % 10**6}"
    s3_server.create_bucket(name)
    layouts.make_public(s3_server.client(), name)
    docs = [layouts.material(i) for i in range(N_GROUPED)]
    dos = [layouts.dos(i) for i in range(N_JSON)]
    bodies = {**layouts.grouped_bodies("collections/materials", docs),
              **layouts.json_bodies("dos", dos)}
    s3_server.put_many(name, ((key, body, {}) for key, body in bodies.items()))
    return {"bucket": name, "materials": docs, "dos": dos}


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"
