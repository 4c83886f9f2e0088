"""Public-style buckets on the local endpoint, filled once per module."""

from __future__ import annotations

import os

import pytest

from tests.opendata import layouts

N_GROUPED = 10_000
N_JSON = 1_500


@pytest.fixture(scope="module")
def public_bucket(s3_server):
    """A public-read bucket holding both public layouts."""
    name = f"opendata-{os.getpid()}-{abs(hash(os.urandom(4))) % 10**6}"
    s3_server.create_bucket(name)
    client = s3_server.client(max_pool_connections=16)
    layouts.make_public(client, name)
    docs = [layouts.material(i) for i in range(N_GROUPED)]
    layouts.upload(client, name, layouts.grouped_bodies("collections/materials", docs))
    dos = [layouts.dos(i) for i in range(N_JSON)]
    layouts.upload(client, name, layouts.json_bodies("dos", dos))
    return {"bucket": name, "materials": docs, "dos": dos}


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"
