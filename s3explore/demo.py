"""The embedded demo: synthetic materials documents in an S3Store that needs no services.

``demo_store()`` stores ``n`` reproducible documents shaped like a materials database's
(formula, composition, energies, band gap, symmetry, a crystal structure and a density of
states as numpy arrays) in a bucket of a moto S3 server on 127.0.0.1, with an in-memory
DuckDB index. One server per process serves every demo store: calling ``demo_store()`` again
(re-running a notebook) adds a bucket to it instead of starting another server. Closing a
store deletes its bucket; closing the last one stops the server.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from s3explore import _codec as codec
from s3explore._checks import DEFAULT_WORKERS, positive_int, whole_number
from s3explore._errors import NotConnectedError
from s3explore._stores import DuckDBStore, S3Store
from s3explore._stores._objects import PART_SIZE
from s3explore.local_s3 import LocalS3, LocalS3Process

__all__ = ["DEMO_KEY", "DEMO_SEARCHABLE_FIELDS", "DemoStore", "demo_documents", "demo_server_pid",
           "demo_store"]

DEMO_KEY = "material_id"
# What a group would index: small fields people filter, sort and group by. The structure and
# the density of states stay in the objects.
DEMO_SEARCHABLE_FIELDS = [
    "formula", "chemsys", "elements", "nelements", "nsites",
    "energy_per_atom", "formation_energy_per_atom", "energy_above_hull", "is_stable",
    "band_gap", "is_metal", "density", "volume", "symmetry",
]
# Documents per request when filling a demo bucket (about 1 MB of compressed bodies).
FILL_BATCH = 250

# symbol: (atomic mass, Pauling electronegativity, atomic volume in Å^3 in solids, weight)
_ELEMENTS: dict[str, tuple[float, float, float, float]] = {
    "H": (1.008, 2.20, 4.5, 1), "Li": (6.94, 0.98, 20.0, 6), "B": (10.81, 2.04, 7.5, 2),
    "C": (12.011, 2.55, 8.0, 2), "N": (14.007, 3.04, 12.0, 3), "O": (15.999, 3.44, 12.0, 14),
    "F": (18.998, 3.98, 11.0, 4), "Na": (22.990, 0.93, 30.0, 5), "Mg": (24.305, 1.31, 20.0, 5),
    "Al": (26.982, 1.61, 16.5, 3), "Si": (28.085, 1.90, 20.0, 4), "P": (30.974, 2.19, 18.0, 4),
    "S": (32.06, 2.58, 20.0, 5), "Cl": (35.45, 3.16, 25.0, 2), "K": (39.098, 0.82, 45.0, 3),
    "Ca": (40.078, 1.00, 29.0, 3), "Ti": (47.867, 1.54, 17.5, 3), "V": (50.942, 1.63, 14.0, 3),
    "Cr": (51.996, 1.66, 12.0, 2), "Mn": (54.938, 1.55, 12.5, 5), "Fe": (55.845, 1.83, 11.8, 5),
    "Co": (58.933, 1.88, 11.1, 4), "Ni": (58.693, 1.91, 10.9, 4), "Cu": (63.546, 1.90, 11.8, 4),
    "Zn": (65.38, 1.65, 15.2, 3), "Ga": (69.723, 1.81, 19.6, 2), "Ge": (72.630, 2.01, 22.6, 2),
    "Se": (78.971, 2.55, 27.0, 3), "Sr": (87.62, 0.95, 56.0, 2), "Y": (88.906, 1.22, 33.0, 2),
    "Zr": (91.224, 1.33, 23.3, 2), "Nb": (92.906, 1.60, 18.0, 2), "Mo": (95.95, 2.16, 15.6, 2),
    "Sn": (118.71, 1.96, 27.0, 2), "Sb": (121.76, 2.05, 30.0, 2), "Te": (127.60, 2.10, 34.0, 2),
    "I": (126.90, 2.66, 42.0, 1), "Ba": (137.33, 0.89, 63.0, 3), "La": (138.91, 1.10, 37.0, 2),
    "W": (183.84, 2.36, 15.9, 1), "Bi": (208.98, 2.02, 35.0, 2),
}
_SYMBOLS = list(_ELEMENTS)
_WEIGHTS = np.array([v[3] for v in _ELEMENTS.values()], dtype=float)
_WEIGHTS /= _WEIGHTS.sum()
# Common oxidation states: anions take electrons, everything else gives them in compounds.
_ANION_STATES = {"N": 3, "O": 2, "F": 1, "S": 2, "Cl": 1, "Se": 2, "Te": 2, "I": 1}
_CATION_STATES = {
    "H": (1,), "Li": (1,), "B": (3,), "C": (4,), "Na": (1,), "Mg": (2,), "Al": (3,),
    "Si": (4,), "P": (5,), "K": (1,), "Ca": (2,), "Ti": (4, 3), "V": (5, 3, 4), "Cr": (3, 6),
    "Mn": (2, 3, 4), "Fe": (3, 2), "Co": (2, 3), "Ni": (2,), "Cu": (2, 1), "Zn": (2,),
    "Ga": (3,), "Ge": (4,), "Sr": (2,), "Y": (3,), "Zr": (4,), "Nb": (5,), "Mo": (6, 4),
    "Sn": (4, 2), "Sb": (3, 5), "Ba": (2,), "La": (3,), "W": (6,), "Bi": (3,),
    "Se": (4,), "Te": (4,), "I": (5,), "N": (5,), "S": (6,), "Cl": (7,),
}
_MAX_FORMULA_ATOMS = 30

# crystal system: (share of entries, [(space group number, symbol, point group), ...])
_SYMMETRY: dict[str, tuple[float, list[tuple[int, str, str]]]] = {
    "Triclinic": (0.07, [(2, "P-1", "-1"), (1, "P1", "1")]),
    "Monoclinic": (0.22, [(14, "P2_1/c", "2/m"), (15, "C2/c", "2/m"), (12, "C2/m", "2/m"),
                          (4, "P2_1", "2"), (9, "Cc", "m")]),
    "Orthorhombic": (0.20, [(62, "Pnma", "mmm"), (63, "Cmcm", "mmm"), (61, "Pbca", "mmm"),
                            (33, "Pna2_1", "mm2"), (64, "Cmce", "mmm")]),
    "Tetragonal": (0.13, [(139, "I4/mmm", "4/mmm"), (123, "P4/mmm", "4/mmm"),
                          (141, "I4_1/amd", "4/mmm"), (129, "P4/nmm", "4/mmm")]),
    "Trigonal": (0.12, [(166, "R-3m", "-3m"), (164, "P-3m1", "-3m"), (160, "R3m", "3m"),
                        (148, "R-3", "-3")]),
    "Hexagonal": (0.10, [(194, "P6_3/mmc", "6/mmm"), (191, "P6/mmm", "6/mmm"),
                         (186, "P6_3mc", "6mm")]),
    "Cubic": (0.16, [(225, "Fm-3m", "m-3m"), (221, "Pm-3m", "m-3m"), (227, "Fd-3m", "m-3m"),
                     (216, "F-43m", "-43m"), (230, "Ia-3d", "m-3m")]),
}
_SYSTEMS = list(_SYMMETRY)
_SYSTEM_SHARES = np.array([v[0] for v in _SYMMETRY.values()])
_SYSTEM_SHARES /= _SYSTEM_SHARES.sum()
_NELEMENTS_SHARES = np.array([0.04, 0.26, 0.44, 0.21, 0.05])
_Z_CHOICES = (1, 2, 4)


def _cdf(shares: Any) -> np.ndarray:
    """What ``Generator.choice(p=shares)`` computes on every call: computed once instead."""
    cdf = np.asarray(shares, dtype=float).cumsum()
    cdf /= cdf[-1]
    return cdf


def _pick(rng: np.random.Generator, cdf: np.ndarray) -> int:
    """``int(rng.choice(len(cdf), p=shares))``: the same draw, without choice's checks."""
    return int(cdf.searchsorted(rng.random(), side="right"))


_NELEMENTS_CDF = _cdf(_NELEMENTS_SHARES)
_SYSTEM_CDF = _cdf(_SYSTEM_SHARES)
_Z_CDF = _cdf([0.5, 0.35, 0.15])
_DOS_POINTS = 301
_EPOCH = _dt.datetime(2019, 1, 1)
_SPAN_SECONDS = int((_dt.datetime(2025, 1, 1) - _EPOCH).total_seconds())


def _formula(counts: dict[str, int]) -> str:
    """Reduced formula, most electropositive element first (the usual convention)."""
    divisor = int(np.gcd.reduce(list(counts.values())))
    order = sorted(counts, key=lambda el: (_ELEMENTS[el][1], el))
    return "".join(el + (str(counts[el] // divisor) if counts[el] // divisor > 1 else "")
                   for el in order)


def _lattice(rng: np.random.Generator, system: str, volume: float) -> np.ndarray:
    """A lattice matrix (rows are vectors, Å) of the crystal system with the given volume."""
    ratios = rng.uniform(0.7, 1.5, 3)
    alpha = beta = gamma = 90.0
    if system == "Cubic":
        ratios[:] = 1.0
    elif system == "Tetragonal":
        ratios[1] = ratios[0]
    elif system in ("Hexagonal", "Trigonal"):
        ratios[1] = ratios[0]
        gamma = 120.0
    elif system == "Monoclinic":
        beta = float(rng.uniform(92, 120))
    elif system == "Triclinic":
        alpha, beta, gamma = rng.uniform(75, 110, 3)
    ca, cb, cg = np.cos(np.radians([alpha, beta, gamma]))
    sg = np.sin(np.radians(gamma))
    unit = np.array([
        [ratios[0], 0.0, 0.0],
        [ratios[1] * cg, ratios[1] * sg, 0.0],
        [ratios[2] * cb, ratios[2] * (ca - cb * cg) / sg,
         ratios[2] * np.sqrt(max(1 - cb**2 - ((ca - cb * cg) / sg) ** 2, 1e-6))],
    ])
    scale = (volume / abs(np.linalg.det(unit))) ** (1 / 3)
    return np.round(unit * scale, 6)


def _dos(rng: np.random.Generator, band_gap: float, efermi: float) -> dict[str, Any]:
    """A total density of states: gaussian bands, nothing inside the gap above E_F."""
    energies = np.round(np.linspace(-10.0, 10.0, _DOS_POINTS) + efermi, 4)
    relative = energies - efermi
    # One draw per band of (centre, width, height), in the order rng.uniform would take them.
    draws = rng.random((int(rng.integers(6, 14)), 3))
    centres = -9.5 + (9.5 - -9.5) * draws[:, :1]
    widths = 0.3 + (1.5 - 0.3) * draws[:, 1:2]
    heights = 0.5 + (4.0 - 0.5) * draws[:, 2:]
    bands = heights * np.exp(-0.5 * ((relative - centres) / widths) ** 2)
    densities = np.zeros(_DOS_POINTS)
    for band in bands:  # added one at a time: the same rounding as a band-by-band sum
        densities += band
    if band_gap > 0:
        # E_F at the valence band top: no states in the gap, band edges that rise smoothly.
        to_edge = np.where(relative <= 0, -relative, relative - band_gap)
        densities *= np.where(to_edge > 0, 1 - np.exp(-to_edge / 0.4), 0.0)
    return {"energies": energies, "densities": np.round(densities, 5), "efermi": efermi}


def _ionic_counts(rng: np.random.Generator, cations: list[str], anions: list[str]
                  ) -> dict[str, int] | None:
    """Charge-balanced counts: cation charges equal anion charges, or None if none found."""
    states = {el: int(rng.choice(_CATION_STATES[el])) for el in cations}
    base = {el: int(rng.integers(1, 4)) for el in cations}
    for factor in range(1, 7):
        charge = factor * sum(base[el] * states[el] for el in cations)
        for _ in range(10):
            counts = {el: int(rng.integers(1, 4)) for el in anions[:-1]}
            rest = charge - sum(counts[el] * _ANION_STATES[el] for el in counts)
            last = _ANION_STATES[anions[-1]]
            if rest >= last and rest % last == 0:
                counts[anions[-1]] = rest // last
                return {**{el: factor * base[el] for el in cations}, **counts}
    return None


def _composition(rng: np.random.Generator) -> dict[str, int]:
    """Element counts of one formula unit: charge-balanced when it has anions."""
    while True:
        nelements = _pick(rng, _NELEMENTS_CDF) + 1
        elements = rng.choice(_SYMBOLS, size=nelements, replace=False, p=_WEIGHTS).tolist()
        # The most electronegative element is always an anion (if it can be one): oxides,
        # nitrides and halides; the others give electrons, as in phosphates or sulfates.
        by_electronegativity = sorted(elements, key=lambda el: _ELEMENTS[el][1])
        anions = [el for el in by_electronegativity[1:] if el in _ANION_STATES]
        cations = [el for el in by_electronegativity if el not in anions]
        counts = None
        if nelements == 1:
            counts = {elements[0]: 1}
        elif anions and all(el in _CATION_STATES for el in cations):
            counts = _ionic_counts(rng, cations, anions)
        elif not anions:  # an intermetallic or alloy
            counts = {el: int(rng.integers(1, 4)) for el in elements}
        if counts is not None:
            divisor = int(np.gcd.reduce(list(counts.values())))
            counts = {el: c // divisor for el, c in sorted(counts.items())}
            if sum(counts.values()) <= _MAX_FORMULA_ATOMS:
                return counts


def _document(rng: np.random.Generator, number: int) -> dict[str, Any]:
    counts = _composition(rng)
    elements = list(counts)
    nelements = len(elements)
    total = sum(counts.values())
    z = _Z_CHOICES[_pick(rng, _Z_CDF)]
    while z > 1 and total * z > 80:
        z //= 2
    counts = {el: c * z for el, c in counts.items()}
    species = [el for el in elements for _ in range(counts[el])]
    nsites = len(species)

    system = _SYSTEMS[_pick(rng, _SYSTEM_CDF)]
    spacegroup, symbol, point_group = _SYMMETRY[system][1][
        int(rng.integers(len(_SYMMETRY[system][1])))]
    volume_per_atom = np.mean([_ELEMENTS[el][2] for el in species]) * rng.uniform(0.85, 1.15)
    lattice = _lattice(rng, system, volume_per_atom * nsites)
    volume = float(abs(np.linalg.det(lattice)))
    mass = sum(_ELEMENTS[el][0] for el in species)

    electronegativities = [_ELEMENTS[el][1] for el in elements]
    spread = max(electronegativities) - min(electronegativities)
    most_electronegative = max(elements, key=lambda el: _ELEMENTS[el][1])
    ionic = nelements > 1 and most_electronegative in _ANION_STATES
    if nelements == 1:
        formation = 0.0
    else:
        formation = float(-0.9 * spread * rng.uniform(0.6, 1.4) + rng.normal(0.05, 0.25))
    above_hull = 0.0 if rng.random() < 0.3 else float(rng.exponential(0.08))
    insulating = (0.85 if spread > 1.2 else 0.5) if ionic else 0.04
    is_metal = bool(rng.random() > insulating)
    band_gap = 0.0
    while not is_metal and not 0.05 <= band_gap < 9.0:  # redraw the rare tail: no pile-up
        band_gap = float(rng.gamma(1.8, 0.3 + 0.6 * spread))
    efermi = float(rng.normal(1.5, 2.0))

    return {
        DEMO_KEY: f"mp-{number}",
        "formula": _formula(counts),
        "chemsys": "-".join(elements),
        "elements": elements,
        "nelements": nelements,
        "nsites": nsites,
        "composition": counts,
        "energy_per_atom": round(float(-rng.uniform(2.5, 8.5) + formation * 0.3), 5),
        "formation_energy_per_atom": round(formation, 5),
        "energy_above_hull": round(above_hull, 5),
        "is_stable": above_hull == 0.0,
        "band_gap": round(band_gap, 4),
        "is_metal": is_metal,
        "density": round(mass * 1.66054 / volume, 5),
        "volume": round(volume, 4),
        "symmetry": {"crystal_system": system, "symbol": symbol, "number": spacegroup,
                     "point_group": point_group},
        "structure": {
            "lattice": {"matrix": lattice},
            "species": species,
            "frac_coords": np.round(rng.random((nsites, 3)), 6),
        },
        "dos": _dos(rng, band_gap, efermi),
        "last_updated": _EPOCH + _dt.timedelta(seconds=int(rng.integers(_SPAN_SECONDS))),
    }


def iter_demo_documents(n: int = 2000, seed: int = 0) -> Iterator[dict[str, Any]]:
    """The documents of ``demo_documents``, made one at a time (for large ``n``)."""
    whole_number(n, "n", 0)
    whole_number(seed, "seed", 0, hint=" (numpy's generators take no negative seeds)")
    rng = np.random.default_rng(seed)
    # Sparse ids like a real database's: unique, drawn from a range ten times larger.
    numbers = rng.choice(max(10 * n, 10_000), size=n, replace=False) + 1
    return (_document(rng, int(number)) for number in numbers)


def demo_documents(n: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` synthetic materials documents, the same ones for the same ``seed``."""
    return list(iter_demo_documents(n, seed))


class DemoStore(S3Store):
    """An S3Store on the process's demo S3 server: closing it deletes its bucket and index,
    and stops the server when no other demo store uses it."""

    def __init__(self, server: LocalS3 | LocalS3Process, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.server: LocalS3 | LocalS3Process | None = server

    def connect(self, force_reset: bool = False) -> None:
        if self.server is None:
            raise NotConnectedError("this demo store was closed and its bucket deleted; "
                                    "call s3explore.demo.demo_store() for a new one")
        super().connect(force_reset=force_reset)

    def close(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        try:
            self.index.connect()
            self.index.remove_docs({})
            self.index.close()
            super().close()
            if not getattr(server, "running", True):
                return  # the server died, and its buckets with it
            client = server.client()
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket):
                objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if objects:
                    client.delete_objects(Bucket=self.bucket,
                                          Delete={"Objects": objects, "Quiet": True})
            client.delete_bucket(Bucket=self.bucket)
            client.close()
        finally:
            _release_server(server)


_store_ids = itertools.count()
_server_lock = threading.Lock()
_server: LocalS3Process | None = None
_server_users = 0  # open demo stores on _server


def _acquire_server() -> LocalS3Process:
    """The process's demo S3 server, started on first use (or if it died)."""
    global _server, _server_users
    with _server_lock:
        if _server is None or not _server.running:
            if _server is not None:
                _server.stop()
            server = LocalS3Process()
            server.start()
            _server, _server_users = server, 0
        _server_users += 1
        return _server


def _release_server(server: LocalS3 | LocalS3Process) -> None:
    """One demo store fewer on ``server``; the last one out stops it."""
    global _server, _server_users
    with _server_lock:
        if server is not _server:  # not the shared one (a replaced or a caller's own server)
            server.stop()
            return
        _server_users -= 1
        if _server_users <= 0:
            _server, _server_users = None, 0
            server.stop()


def demo_server_pid() -> int | None:
    """The process id of the demo S3 server, or None when no demo store is open."""
    with _server_lock:
        return _server.pid if _server is not None else None


def demo_store(n: int = 2000, seed: int = 0, *, workers: int = DEFAULT_WORKERS,
               compress: bool | str = True) -> DemoStore:
    """A connected S3Store holding ``demo_documents(n, seed)``, with no services needed.

    The bucket lives on a moto S3 server on 127.0.0.1 in a child process (so the server has a
    core of its own), shared by every demo store of this process, and the index in an
    in-memory DuckDB database. The objects are loaded into the server in batches of
    ``FILL_BATCH`` (one request each, see ``LocalS3Process.put_many``) with exactly the bodies,
    metadata and index entries ``S3Store.update`` writes: 2,000 documents take a few seconds
    where one PUT per document takes tens of seconds on a busy machine. ``workers`` is the
    number of parallel S3 requests for reads and updates afterwards.

    ``store.close()`` (or leaving a ``with`` block) deletes the bucket and the index; the
    server stops with the last open demo store, and also if this process dies.
    """
    # every argument is checked before a server starts
    documents = iter_demo_documents(n, seed)
    positive_int(workers, "workers")
    codec.normalize_compression(compress)
    with ThreadPoolExecutor(1, thread_name_prefix="s3explore-demo") as sender:
        # The server starts in its own process while this one makes the first documents.
        starting = sender.submit(_acquire_server)
        made: list[dict[str, Any]] = []
        try:
            for doc in documents:
                made.append(doc)
                if starting.done():
                    break
        except BaseException:  # e.g. Ctrl-C: give the server back once it is up
            starting.add_done_callback(lambda f: f.exception() or _release_server(f.result()))
            raise
        server = starting.result()
        try:
            bucket = server.create_bucket(f"s3explore-demo-{os.getpid()}-{next(_store_ids)}")
            store = DemoStore(
                server,
                index=DuckDBStore(f"demo_{bucket.rsplit('-', 1)[-1]}", key=DEMO_KEY),
                bucket=bucket,
                s3_profile=server.credentials,
                endpoint_url=server.endpoint_url,
                compress=compress,
                s3_workers=workers,
                key=DEMO_KEY,
                searchable_fields=DEMO_SEARCHABLE_FIELDS,
            )
            store.connect()
        except BaseException:
            _release_server(server)
            raise
        try:
            _fill(store, itertools.chain(made, documents), sender)
        except BaseException:
            store.close()
            raise
    return store


def _fill(store: DemoStore, documents: Iterable[dict[str, Any]],
          sender: ThreadPoolExecutor) -> None:
    """Load ``documents`` as ``store.update`` would store them, a batch per request.

    Each batch is encoded here while the server stores the previous one. The index entries
    are written once every object landed (index after object, as in ``update``), in one
    update: DuckDB pays per transaction, so one large batch is several times faster.
    """
    fields = list(dict.fromkeys([store.key, *store.searchable_fields]))
    sent: list[tuple[Future, int]] = []
    entries: list[dict[str, Any]] = []
    for batch in _batches(documents, FILL_BATCH):
        objects = []
        for doc in batch:
            object_key, body, metadata, entry = _encode(store, fields, doc)
            objects.append((object_key, body, metadata))
            entries.append(entry)
        sent.append((sender.submit(store.server.put_many, store.bucket, objects), len(objects)))
    for sending, expected in sent:
        stored = sending.result()
        if stored != expected:
            raise RuntimeError(f"the demo S3 server stored {stored} of {expected} objects")
    if entries:
        store.index.update(entries, key=store.key)


def _encode(store: S3Store, fields: list[str], doc: dict[str, Any]
            ) -> tuple[str, bytes, dict[str, str], dict[str, Any]]:
    """``(object key, body, metadata, index entry)`` exactly as ``S3Store.update`` makes
    them (a test compares the two byte for byte)."""
    key = codec.doc_key(doc, store.key)
    entry = codec.index_document(doc, store.key, fields, store.sub_dir, store.compression)
    metadata = codec.metadata_document(entry)
    codec.check_metadata(metadata, store.metadata_limit, key)
    body = codec.encode_body(doc, store.compression, store.compression_level, key)
    if codec.LAST_UPDATED in doc:
        entry[codec.LAST_UPDATED] = doc[codec.LAST_UPDATED]
    if store.store_hash:
        digest = codec.BodyDigest(PART_SIZE)
        digest.update(body)
        entry["obj_hash"] = digest.sha1
        entry[codec.ETAG_FIELD] = digest.etag(multipart=False)  # put_many stores it whole
        if codec.digest_fits(metadata, store.metadata_limit):
            metadata.update(digest.metadata(multipart=False))
    return store.objects.object_key(key), body, metadata, entry


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
