"""Structure columns: ``query_df(fetch={"sg": ("structure", "spacegroup"), ...})`` against
the loop a user writes today, on documents that each hold a pymatgen Structure.

    python bench/bench_materials.py                   # the recorded run (a few minutes)
    python bench/bench_materials.py --server moto     # moto's server instead of versitygw

One run, side by side, on one local S3 server (Versity S3 Gateway by default: its cost per
request is small, so the client's own cost shows) and a MemoryStore index:

- ``--docs`` documents (1,000), each a pymatgen Structure of 2-40 sites as its ``as_dict()``
  (prototypes -- rock salt, perovskite, fluorite, zinc blende, rutile, corundum, wurtzite,
  bcc/fcc metals -- with other elements, strained cells and supercells, some slightly
  perturbed, and random P1 cells; about half carry magmoms) plus a few index fields.
- Contenders, each producing the same frame (task_id, formula, nsites, space group symbol,
  density), in a shuffled order each round after an untimed warm-up round:
  (a) ``store.query_df(fields=[...], fetch={"sg": ("structure", "spacegroup"),
  "density": ("structure", "density")})``: the recipes run in the fetch worker threads;
  (b) by hand: ``for doc in store.query(): Structure.from_dict(doc["structure"])``, then
  ``SpacegroupAnalyzer(s).get_space_group_symbol()`` and ``s.density`` into rows and a
  ``pd.DataFrame``; (c) the same loop with ``query(decode_objects=["pymatgen"])``, where the
  store rebuilds the Structure.
- The three frames are checked to hold the same values. Printed: docs/s (median of the
  rounds), the ratio to (b), client CPU per document and in % of one core, server CPU.
  Raw numbers go to bench/results/materials-*.json.

The symmetry search (spglib, through SpacegroupAnalyzer) is most of each contender's CPU;
what query_df changes is where it runs (the fetch threads, overlapping the GETs) and nothing
else, so on a machine with few cores the ratio is bounded by the cores free for Python.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CREDENTIALS, CpuClock, load_average, server_for

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = ["task_id", "formula", "nsites"]
COLUMNS = ["task_id", "formula", "nsites", "sg", "density"]
PROTOTYPES = [  # (space group, lattice maker, species, fractional coords)
    ("Fm-3m", "cubic", ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    ("Pm-3m", "cubic", ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]]),
    ("Fm-3m", "cubic", ["Ca", "F"], [[0, 0, 0], [0.25, 0.25, 0.25]]),
    ("F-43m", "cubic", ["Ga", "As"], [[0, 0, 0], [0.25, 0.25, 0.25]]),
    ("P4_2/mnm", "tetragonal", ["Ti", "O"], [[0, 0, 0], [0.305, 0.305, 0]]),
    ("R-3c", "hexagonal", ["Fe", "O"], [[0, 0, 0.3553], [0.3059, 0, 0.25]]),
    ("P6_3mc", "hexagonal", ["Zn", "O"], [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.382]]),
    ("Im-3m", "cubic", ["Fe"], [[0, 0, 0]]),
    ("Fm-3m", "cubic", ["Cu"], [[0, 0, 0]]),
]
SUBSTITUTES = ["Li", "Na", "K", "Mg", "Ca", "Sr", "Ba", "Ti", "V", "Cr", "Mn", "Fe", "Co",
               "Ni", "Cu", "Zn", "Al", "Ga", "Si", "O", "S", "Se", "F", "Cl", "N", "P"]
MAGNETIC = {"V", "Cr", "Mn", "Fe", "Co", "Ni"}


def make_structure(i: int) -> Any:
    """Structure ``i``: 2-40 sites, its symmetry anything from P1 to Fm-3m."""
    from pymatgen.core import Lattice, Structure

    rng = random.Random(i)
    if i % 6 == 5:  # a random P1 cell
        n = rng.randint(2, 40)
        lattice = Lattice.from_parameters(*(rng.uniform(3, 11) for _ in range(3)),
                                          *(rng.uniform(70, 110) for _ in range(3)))
        structure = Structure(lattice, [rng.choice(SUBSTITUTES) for _ in range(n)],
                              [[rng.random() for _ in range(3)] for _ in range(n)])
    else:
        group, kind, species, coords = PROTOTYPES[i % len(PROTOTYPES)]
        a = rng.uniform(3.0, 6.0)
        lattice = {"cubic": lambda: Lattice.cubic(a),
                   "tetragonal": lambda: Lattice.tetragonal(a, a * rng.uniform(0.6, 1.4)),
                   "hexagonal": lambda: Lattice.hexagonal(a, a * rng.uniform(1.5, 2.8))}[kind]()
        swap = dict(zip(species, rng.sample(SUBSTITUTES, len(species)), strict=True))
        structure = Structure.from_spacegroup(group, lattice, [swap[s] for s in species],
                                              coords)
        if rng.random() < 0.5:
            structure = structure.get_primitive_structure()
        for _ in range(3):  # a supercell along one axis while it stays within 40 sites
            axis = rng.randrange(3)
            scale = [1, 1, 1]
            scale[axis] = 2
            if len(structure) * 2 <= 40 and rng.random() < 0.4:
                structure.make_supercell(scale)
        if len(structure) < 2:
            structure.make_supercell([2, 1, 1])
        if rng.random() < 0.1:  # strain and rattle: lower or no symmetry
            structure.apply_strain(rng.uniform(-0.03, 0.03))
            structure.perturb(0.05, min_distance=0.01)
    if rng.random() < 0.5:
        structure.add_site_property("magmom", [
            rng.choice([-1, 1]) * rng.uniform(2, 5) if site.specie.symbol in MAGNETIC else 0.0
            for site in structure])
    return structure


def make_document(i: int) -> dict:
    structure = make_structure(i)
    return {"task_id": f"mp-{i}", "formula": structure.composition.reduced_formula,
            "nsites": len(structure), "chemsys": structure.composition.chemical_system,
            "band_gap": round(random.Random(-i).expovariate(0.7), 4),
            "structure": structure.as_dict()}


def by_hand(store: Any, decode_objects: Any = None) -> Any:
    """What a user writes today: every document, each structure rebuilt and analysed."""
    import pandas as pd
    from pymatgen.core import Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    rows = []
    kwargs = {} if decode_objects is None else {"decode_objects": decode_objects}
    for doc in store.query(**kwargs):
        s = doc["structure"]
        if not isinstance(s, Structure):
            s = Structure.from_dict(s)
        rows.append({"task_id": doc["task_id"], "formula": doc["formula"],
                     "nsites": doc["nsites"],
                     "sg": SpacegroupAnalyzer(s).get_space_group_symbol(),
                     "density": float(s.density)})
    return pd.DataFrame(rows, columns=COLUMNS)


def with_query_df(store: Any) -> Any:
    return store.query_df(fields=FIELDS, fetch={"sg": ("structure", "spacegroup"),
                                                "density": ("structure", "density")})


def same_values(frames: dict[str, Any]) -> None:
    """Every contender's frame holds the same rows (by task_id) and values."""
    import numpy as np

    ordered = {name: f[COLUMNS].sort_values("task_id").reset_index(drop=True)
               for name, f in frames.items()}
    (first_name, first), *rest = ordered.items()
    for name, frame in rest:
        for column in ("task_id", "formula", "sg"):
            if first[column].tolist() != frame[column].tolist():
                raise RuntimeError(f"{name} and {first_name} differ in {column}")
        if first["nsites"].astype(int).tolist() != frame["nsites"].astype(int).tolist():
            raise RuntimeError(f"{name} and {first_name} differ in nsites")
        if not np.allclose(first["density"].to_numpy(float), frame["density"].to_numpy(float),
                           rtol=1e-12):
            raise RuntimeError(f"{name} and {first_name} differ in density")


def run(docs: int, server_kind: str, workers: int, repeats: int) -> dict:
    from s3explore import MemoryStore, S3Store

    print(f"making {docs:,} documents (load {load_average()})", file=sys.stderr, flush=True)
    documents = [make_document(i) for i in range(docs)]
    sites = [d["nsites"] for d in documents]
    names = ["(a) query_df(fetch=recipes)", "(b) by hand: query() + Structure.from_dict",
             "(c) by hand: query(decode_objects=['pymatgen'])"]
    rates: dict[str, list[float]] = {n: [] for n in names}
    client_ms: dict[str, list[float]] = {n: [] for n in names}
    client_pct: dict[str, list[float]] = {n: [] for n in names}
    server_ms: dict[str, list[float]] = {n: [] for n in names}
    with server_for(server_kind) as server:
        store = S3Store(MemoryStore("materials-index", key="task_id"),
                        server.fresh_bucket("materials"), s3_profile=dict(CREDENTIALS),
                        compress=True, endpoint_url=server.endpoint_url, s3_workers=workers,
                        key="task_id", searchable_fields=["formula", "nsites", "chemsys",
                                                          "band_gap"])
        store.connect()
        written = store.update(documents, workers=workers)
        if not written.ok:
            raise RuntimeError(f"upload failed: {written.failures[:3]}")
        del documents
        clock = CpuClock(server.pid)
        contenders = {
            names[0]: lambda: with_query_df(store),
            names[1]: lambda: by_hand(store),
            names[2]: lambda: by_hand(store, ["pymatgen"]),
        }
        order = random.Random(0)
        frames: dict[str, Any] = {}
        for round_ in range(repeats + 1):  # round 0 warms imports, connections and threads
            print(f"round {round_}/{repeats} (load {load_average()})", file=sys.stderr,
                  flush=True)
            for name in order.sample(names, len(names)):
                client0, server0 = clock.read()
                start = time.perf_counter()
                frame = contenders[name]()
                seconds = time.perf_counter() - start
                client1, server1 = clock.read()
                if len(frame) != docs:
                    raise RuntimeError(f"{name} gave {len(frame)} rows of {docs}")
                frames[name] = frame
                if round_:
                    rates[name].append(docs / seconds)
                    client_ms[name].append(1e3 * (client1 - client0) / docs)
                    client_pct[name].append(100 * (client1 - client0) / seconds)
                    server_ms[name].append(1e3 * (server1 - server0) / docs)
            same_values(frames)
        groups = frames[names[0]]["sg"].value_counts()
        store.close()
    return {"docs": docs, "server": server_kind, "workers": workers, "repeats": repeats,
            "mean_stored_bytes": written.bytes / docs,
            "sites": {"min": min(sites), "median": statistics.median(sites),
                      "max": max(sites)},
            "space_groups": len(groups), "p1_share": float(groups.get("P1", 0) / docs),
            "docs_per_s": {n: statistics.median(v) for n, v in rates.items()},
            "client_cpu_ms_per_doc": {n: statistics.median(v) for n, v in client_ms.items()},
            "client_cpu_percent": {n: statistics.median(v) for n, v in client_pct.items()},
            "server_cpu_ms_per_doc": {n: statistics.median(v) for n, v in server_ms.items()},
            "runs": rates}


def table(result: dict) -> str:
    names = list(result["docs_per_s"])
    base = result["docs_per_s"][names[1]]
    lines = ["| contender | docs/s (median) | runs (min-max) | vs (b) | client CPU per doc "
             "| client CPU (% of one core) | server CPU per doc |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name in names:
        rate, runs = result["docs_per_s"][name], result["runs"][name]
        lines.append(f"| {name} | {rate:.0f} | {min(runs):.0f}-{max(runs):.0f} | "
                     f"{rate / base:.2f}x | {result['client_cpu_ms_per_doc'][name]:.2f} ms | "
                     f"{result['client_cpu_percent'][name]:.0f} % | "
                     f"{result['server_cpu_ms_per_doc'][name]:.2f} ms |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--server", choices=["versitygw", "moto", "s3rver"], default="versitygw")
    parser.add_argument("--workers", type=int, default=16,
                        help="the store's s3_workers: parallel GETs (and fetch= threads)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    command = ("python bench/bench_materials.py "
               + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    info = {"python": sys.version.split()[0],
            **{p: version(p) for p in ("pymatgen", "spglib", "pandas", "numpy", "boto3")}}
    print(f"command: {command}\nversions: {info}\n", flush=True)
    started = time.perf_counter()
    result = run(args.docs, args.server, args.workers, args.repeats)
    print(f"## Structure columns: {result['docs']:,} documents of "
          f"{result['sites']['min']}-{result['sites']['max']} sites (median "
          f"{result['sites']['median']:g}), {result['space_groups']} space groups "
          f"({100 * result['p1_share']:.0f} % P1), {result['mean_stored_bytes'] / 1e3:.1f} KB "
          f"stored each; {args.server}, {args.workers} workers, median of {args.repeats} "
          f"rounds\n\n{table(result)}\n\nall three frames hold the same values\n", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s, load average {load_average()}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"materials-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"command": command, "versions": info, "result": result},
                              indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
