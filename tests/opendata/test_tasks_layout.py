"""maggma's TasksOpenDataStore layout: grouped JSON lines whose last grouping field lives only
in the object names (``nelements=2/dt=2024-02-01.jsonl.gz``, the documents lack ``dt``), with
a manifest that holds it as the text maggma cut from the name."""

from __future__ import annotations

import datetime as dt
import gzip
import os
from collections import defaultdict

import pytest
from bson import json_util

import s3explore
from tests.opendata import layouts

pytestmark = pytest.mark.real_s3

PREFIX = "tasks"
DAYS = ("2024-01-15", "2024-02-01", "2024-03-10")


def task(i: int) -> dict:
    return {"task_id": f"mp-{1000 + i}", "nelements": i % 3 + 1, "energy": -1.5 * i,
            "last_updated": dt.datetime(2024, 1, 1) + dt.timedelta(hours=i),
            "output": {"spacegroup": {"number": 1 + i % 5}}}


@pytest.fixture(scope="module")
def tasks_bucket(s3_server):
    name = f"tasks-{os.getpid()}-{abs(hash(os.urandom(4))) % 10**6}"
    s3_server.create_bucket(name)
    client = s3_server.client()
    layouts.make_public(client, name)
    docs = [task(i) for i in range(60)]
    groups: dict[str, list[dict]] = defaultdict(list)
    rows = []
    for i, doc in enumerate(docs):
        day = DAYS[i % len(DAYS)]
        groups[f"{PREFIX}/nelements={doc['nelements']}/dt={day}.jsonl.gz"].append(doc)
        # TasksOpenDataStore._index_for_doc_from_s3: the trailing field from the name, as text
        rows.append({"task_id": doc["task_id"], "last_updated": doc["last_updated"],
                     "nelements": doc["nelements"], "dt": day})
    bodies = {name: gzip.compress("".join(json_util.dumps(d) + "\n" for d in members).encode())
              for name, members in groups.items()}
    with_manifest = dict(bodies)
    with_manifest[f"{PREFIX}/manifest.jsonl"] = "".join(
        json_util.dumps(r) + "\n" for r in rows).encode()
    layouts.upload(client, name, with_manifest)
    layouts.upload(client, name, {k.replace(PREFIX, "bare", 1): v for k, v in bodies.items()})
    return {"bucket": name, "docs": docs}


@pytest.mark.parametrize("prefix", [PREFIX, "bare"])
def test_tasks_layout_opens_and_reads_documents(tasks_bucket, s3_server, tmp_path, prefix):
    """With maggma's manifest, and without one (the index built from the objects)."""
    store = s3explore.open(f"s3://{tasks_bucket['bucket']}/{prefix}", anonymous=True,
                           endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path,
                           publish=False)
    try:
        assert store.layout.kind == "grouped-jsonl"
        assert store.layout.grouping == ("nelements", "dt")
        assert store.count() == 60
        assert store.count({"dt": "2024-02-01"}) == 20
        wanted = {d["task_id"]: d for d in tasks_bucket["docs"] if d["nelements"] == 2}
        found = {d["task_id"]: d for d in store.query({"nelements": 2})}
        assert found == wanted  # whole documents, as written (no "dt" in them)
        assert next(store.query({"task_id": "mp-1007"}, ["output.spacegroup.number"])) == {
            "output": {"spacegroup": {"number": 3}}}
    finally:
        store.close()
