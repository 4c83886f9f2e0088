"""Buckets laid out like the Materials Project's AWS Open Data, on the local endpoint.

Documents are generated deterministically and written the way the public buckets are:
``bson.json_util.dumps`` (extended JSON: ``$date``, ``$oid``, ``$numberLong``), gzip, one
document per ``{prefix}/{id}.json.gz`` object, or JSON lines per
``{prefix}/nelements=N/symmetry_number=M.jsonl.gz`` group beside a ``manifest.jsonl`` whose
rows are the key, ``last_updated``, the grouping fields and the searchable fields.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from bson import ObjectId, json_util
from bson.int64 import Int64

SYMMETRY = (1, 2, 12, 62, 139, 166, 194, 221, 225, 227)
FORMULAS = ("Fe2O3", "NaCl", "Si", "GaAs", "LiCoO2", "TiO2", "MgO")
T0 = dt.datetime(2024, 1, 1, 12, 0, 0)


def material(i: int) -> dict:
    """A document as the public collections hold them (key: material_id)."""
    return {
        "_id": ObjectId(f"{i:024x}"),
        "material_id": f"mp-{i}",
        "formula_pretty": FORMULAS[i % len(FORMULAS)],
        "nelements": i % 4 + 1,
        "symmetry_number": SYMMETRY[i % len(SYMMETRY)],
        "nsites": (i * 7) % 40 + 1,
        "band_gap": round((i % 97) * 0.05, 3),
        "energy_total": Int64(-(10**12) - i),  # written as {"$numberLong": ...}
        "last_updated": T0 + dt.timedelta(minutes=i, milliseconds=i % 1000),
        "structure": {"lattice": {"a": 3.0 + i % 5, "b": 4.0}, "sites": [[0, 0, 0]] * 2},
        "origins": [{"name": "structure", "task_id": f"mp-{i + 100000}"}],
    }


def dos(i: int) -> dict:
    """A per-id document like s3://materialsproject-parsed/dos/mp-1.json.gz."""
    return {
        "_id": ObjectId(f"{i + 7:024x}"),
        "task_id": f"mp-{i}",
        "efermi": round(1.5 + (i % 13) * 0.1, 3),
        "nelements": i % 3 + 1,
        "spin_polarized": bool(i % 2),
        "energies": [round(-5 + 0.5 * k, 2) for k in range(20)],
        "densities": {"1": [k % 7 for k in range(20)]},
        "last_updated": T0 + dt.timedelta(hours=i),
        "calc": {"encut": 520 + (i % 3) * 100, "functional": "PBE"},
    }


MANIFEST_FIELDS = ("material_id", "last_updated", "nelements", "symmetry_number",
                   "formula_pretty", "band_gap", "nsites")


def make_public(client, bucket: str) -> None:
    """A public-read bucket policy, as AWS Open Data buckets have."""
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def upload(client, bucket: str, bodies: dict[str, bytes], workers: int = 8) -> None:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]),
                      bodies.items()))


def grouped_bodies(prefix: str, docs: list[dict], manifest: bool = True) -> dict[str, bytes]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for doc in docs:
        groups[(doc["nelements"], doc["symmetry_number"])].append(doc)
    bodies = {}
    for (nel, sym), members in groups.items():
        text = "".join(json_util.dumps(d) + "\n" for d in members)
        bodies[f"{prefix}/nelements={nel}/symmetry_number={sym}.jsonl.gz"] = gzip.compress(
            text.encode())
    if manifest:
        rows = [{f: d[f] for f in MANIFEST_FIELDS} for d in docs]
        bodies[f"{prefix}/manifest.jsonl"] = "".join(
            json_util.dumps(r) + "\n" for r in rows).encode()
    return bodies


def json_bodies(prefix: str, docs: list[dict], key: str = "task_id") -> dict[str, bytes]:
    return {f"{prefix}/{d[key]}.json.gz": gzip.compress(json_util.dumps(d).encode())
            for d in docs}


def plain(doc: dict) -> dict:
    """What s3explore hands back for ``doc``: ids as hex strings, plain ints."""
    return json.loads(json_util.dumps(doc), object_hook=_plain_hook)


def _plain_hook(obj: dict):
    if "$oid" in obj:
        return obj["$oid"]
    if "$date" in obj:
        return dt.datetime.fromisoformat(obj["$date"].replace("Z", ""))
    if "$numberLong" in obj:
        return int(obj["$numberLong"])
    return obj
