"""Shared benchmark helpers: a LocalS3 server in its own process, documents, memory probes.

The S3 server runs in a child process so that moto's request handling (CPU-bound Python)
does not share a GIL with the client being measured. Both still share the machine's cores,
so every measurement also records how much CPU the server and the client used.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import psutil
from botocore.config import Config

from s3explore import Store
from s3explore.local_s3 import LOCAL_CREDENTIALS, LocalS3Process

# The local endpoint's credentials: the benchmark never touches the machine's AWS profiles.
CREDENTIALS = dict(LOCAL_CREDENTIALS)
SEARCHABLE_FIELDS = ["formula", "nsites", "band_gap"]

_SPAWN = mp.get_context("spawn")
_bucket_ids = itertools.count()


# ---------------------------------------------------------------- stand-in index stores


class OfflineStore(Store):
    """A Store with nothing to connect to and nothing in it; the benchmarks' stand-in
    indexes build on it and override what they measure."""

    def _connect(self, force_reset: bool) -> None:
        pass

    def _close(self) -> None:
        pass

    def _find(self, q: Any) -> Iterator[dict]:
        return iter(())

    def _count(self, criteria: dict) -> int:
        return 0

    def _upsert(self, docs: list[dict], keys: list[str]) -> None:
        pass

    def _delete(self, criteria: dict) -> None:
        pass

    def _config(self) -> dict[str, Any]:
        return {}


# ---------------------------------------------------------------- the server process


class ServerProcess(LocalS3Process):
    """``with ServerProcess(latency=0.02) as server: server.endpoint_url``.

    s3explore's LocalS3 (moto) in a child process, so the server does not share the client's
    interpreter lock; with clients that try each request once, and fresh bucket names.
    """

    def client(self, max_pool_connections: int = 10) -> Any:
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url,
            config=Config(max_pool_connections=max_pool_connections,
                          retries={"total_max_attempts": 1, "mode": "standard"}),
            **CREDENTIALS,
        )

    def fresh_bucket(self, prefix: str) -> str:
        name = f"{prefix}-{os.getpid()}-{next(_bucket_ids)}"
        self.client().create_bucket(Bucket=name)
        return name


class GatewayServer:
    """``with GatewayServer() as server``: Versity S3 Gateway (Go, a production S3 server) on
    127.0.0.1, with ServerProcess's interface. Its cost per request is a fraction of moto's,
    so the client's own cost shows. ``latency`` must be 0: the gateway adds none."""

    def __init__(self, latency: float = 0.0) -> None:
        if latency:
            raise ValueError("the gateway adds no latency; use --server moto with --latency")
        import sys as _sys
        from pathlib import Path as _Path

        _sys.path.insert(1, str(_Path(__file__).resolve().parent.parent))
        from tests.servers import VersityS3

        self._server = VersityS3()

    endpoint_url = property(lambda self: self._server.endpoint_url)
    pid = property(lambda self: self._server.process.pid)
    client = ServerProcess.client
    fresh_bucket = ServerProcess.fresh_bucket

    def __enter__(self) -> GatewayServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


def obstore_store(server: Any, bucket: str, workers: int) -> Any:
    """obstore's S3 store on ``bucket`` of ``server``: the raw ceilings' client."""
    from obstore.store import S3Store as ObstoreS3

    return ObstoreS3(bucket, endpoint=server.endpoint_url, region="us-east-1",
                     access_key_id=CREDENTIALS["aws_access_key_id"],
                     secret_access_key=CREDENTIALS["aws_secret_access_key"],
                     virtual_hosted_style_request=False,
                     client_options={"allow_http": "true",
                                     "pool_max_idle_per_host": str(workers)})


S3RVER_VERSION = "3.7.1"
_S3RVER_HOME = Path(os.environ.get("S3X_SERVERS_DIR", Path.home() / ".cache" / "s3explore")
                    ) / f"s3rver-{S3RVER_VERSION}"
# s3rver knows one key pair (S3RVER); the launcher adds the benchmark's, so every contender
# signs with the same credentials on every server.
_S3RVER_LAUNCHER = """
const S3rver = require('s3rver');
require('s3rver/lib/models/account').DUMMY_ACCOUNT.createKeyPair(
  process.env.S3X_KEY, process.env.S3X_SECRET);
new S3rver({address: '127.0.0.1', port: Number(process.env.S3X_PORT),
            directory: process.env.S3X_DIR, silent: true})
  .run().then(() => console.log('ready'));
"""


class S3rverServer:
    """``with S3rverServer() as server``: s3rver (Node.js, from npm; installed on first use
    into a cache folder) on 127.0.0.1, with ServerProcess's interface. A fast server of
    another kind than the gateway: its cost per request is also a fraction of moto's."""

    def __init__(self, latency: float = 0.0) -> None:
        if latency:
            raise ValueError("s3rver adds no latency; use --server moto with --latency")
        self._process: subprocess.Popen | None = None
        self._folder = tempfile.TemporaryDirectory(prefix="s3rver-")

    @staticmethod
    def install() -> Path:
        if not (_S3RVER_HOME / "node_modules" / "s3rver").is_dir():
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix",
                            str(_S3RVER_HOME), f"s3rver@{S3RVER_VERSION}"], check=True,
                           stdout=subprocess.DEVNULL)
        return _S3RVER_HOME

    def __enter__(self) -> S3rverServer:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "S3X_KEY": CREDENTIALS["aws_access_key_id"],
               "S3X_SECRET": CREDENTIALS["aws_secret_access_key"], "S3X_PORT": str(port),
               "S3X_DIR": self._folder.name}
        self._process = subprocess.Popen(["node", "-e", _S3RVER_LAUNCHER], env=env,
                                         cwd=self.install(), stdout=subprocess.PIPE, text=True)
        if self._process.stdout.readline().strip() != "ready":
            self.__exit__()
            raise RuntimeError("s3rver did not start")
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self.pid = self._process.pid
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
        self._folder.cleanup()

    client = ServerProcess.client
    fresh_bucket = ServerProcess.fresh_bucket


SERVERS = {"moto": ServerProcess, "versitygw": GatewayServer, "s3rver": S3rverServer}


def server_for(kind: str, latency: float = 0.0) -> Any:
    """The benchmark's S3 server: moto (``ServerProcess``), Versity S3 Gateway or s3rver."""
    if kind == "moto":
        return ServerProcess(latency=latency)
    return SERVERS[kind](latency)


# ---------------------------------------------------------------- documents

_ELEMENTS = ["Li", "Fe", "O", "Mn", "Co", "Ni", "Si", "Ti", "Al", "Mg", "Na", "S", "P", "Cu"]


def make_document(i: int, energies: int = 440, max_sites: int = 24) -> dict:
    """A materials-like document: a structure and a spin-polarised DOS as numpy arrays.

    With the defaults a document is about 10 KB after msgpack and zlib (smooth DOS curves
    with noise, 2-23 sites). ``energies=20, max_sites=4`` gives ~1 KB documents.
    """
    rng = np.random.default_rng(i)
    nsites = int(rng.integers(2, max_sites))
    elements = [str(e) for e in rng.choice(_ELEMENTS, size=int(rng.integers(1, 4)),
                                           replace=False)]
    lattice = (np.eye(3) * rng.uniform(3, 12, 3) + rng.normal(0, 0.3, (3, 3))).round(6)
    sites = []
    for s in range(nsites):
        element = elements[s % len(elements)]
        abc = rng.random(3).round(6)
        sites.append({"species": [{"element": element, "occu": 1.0}], "abc": abc.tolist(),
                      "xyz": (abc @ lattice).round(6).tolist(), "label": element,
                      "properties": {"magmom": round(float(rng.normal(0, 1)), 3)}})
    grid = np.linspace(-10.0, 10.0, energies)
    peaks = sum(rng.uniform(0.5, 3) * np.exp(-(((grid - c) / rng.uniform(0.3, 1.5)) ** 2))
                for c in rng.uniform(-8, 8, 6))
    return {
        "task_id": f"mp-{i}",
        "formula": "".join(elements),
        "nsites": nsites,
        "band_gap": round(float(rng.exponential(1.5)), 4),
        "elements": sorted(elements),
        "energy_per_atom": float(rng.normal(-6, 1.5)),
        "structure": {"@module": "pymatgen.core.structure", "@class": "Structure",
                      "lattice": {"matrix": lattice.tolist()}, "sites": sites},
        "dos": {"efermi": float(rng.normal(0, 1)), "energies": grid,
                "densities": {"1": peaks + rng.normal(0, 0.02, energies).clip(0),
                              "-1": peaks + rng.normal(0, 0.02, energies).clip(0)}},
    }


def iter_documents(count: int, **kwargs: Any) -> Iterator[dict]:
    """A generator: documents are made one at a time, never held as a list."""
    return (make_document(i, **kwargs) for i in range(count))


# ---------------------------------------------------------------- timing and CPU


@dataclass
class Sample:
    seconds: float
    docs: int
    nbytes: int
    client_cpu: float  # CPU seconds used by this process
    server_cpu: float  # CPU seconds used by the server process
    ceiling: float = 0.0  # docs/s of the ceiling measured in the same round
    index_seconds: float = 0.0  # time spent writing index entries, when measured
    fast_ceiling: float = 0.0  # docs/s of the fastest raw client (obstore), same round

    @property
    def docs_per_s(self) -> float:
        return self.docs / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / 1e6 / self.seconds


@dataclass
class Measurement:
    name: str
    operation: str
    samples: list[Sample] = field(default_factory=list)

    def _median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)

    @property
    def docs_per_s(self) -> float:
        return self._median("docs_per_s")

    @property
    def mb_per_s(self) -> float:
        return self._median("mb_per_s")

    @property
    def share_of_ceiling(self) -> float:
        """Median over rounds of (this rate / the ceiling's rate in the same round)."""
        return statistics.median(s.docs_per_s / s.ceiling for s in self.samples)

    @property
    def share_of_fast_ceiling(self) -> float:
        """As share_of_ceiling, against the fastest raw client (0 when not measured)."""
        return statistics.median(s.docs_per_s / s.fast_ceiling if s.fast_ceiling else 0.0
                                 for s in self.samples)

    @property
    def cpu_ms_per_doc(self) -> float:
        """Median client CPU per document, in milliseconds."""
        return statistics.median(1000 * s.client_cpu / s.docs for s in self.samples)

    @property
    def index_seconds(self) -> float:
        return self._median("index_seconds")

    @property
    def seconds(self) -> float:
        return self._median("seconds")

    @property
    def spread(self) -> str:
        rates = [s.docs_per_s for s in self.samples]
        return f"{min(rates):.0f}-{max(rates):.0f}" if len(rates) > 1 else "1 run"

    def cpu_percent(self, which: str) -> float:
        """Median CPU use during the run, in % of one core."""
        return statistics.median(100 * getattr(s, f"{which}_cpu") / s.seconds
                                 for s in self.samples)


class CpuClock:
    """CPU seconds of this process and of the server process, read together."""

    def __init__(self, server_pid: int) -> None:
        self._me = psutil.Process()
        self._server = psutil.Process(server_pid)

    def read(self) -> tuple[float, float]:
        mine, theirs = self._me.cpu_times(), self._server.cpu_times()
        return mine.user + mine.system, theirs.user + theirs.system


class StopWatch:
    """Wraps a callable and adds up the wall time spent in it (``total``)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.total = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.wrap(self.fn)(*args, **kwargs)

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn``, its time added to this total too."""
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - start
        return timed_call


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def timed(fn: Callable[[], tuple[int, int]], clock: CpuClock) -> Sample:
    """Run ``fn`` (which returns ``(docs, bytes)``) and time it."""
    client0, server0 = clock.read()
    start = time.perf_counter()
    docs, nbytes = fn()
    seconds = time.perf_counter() - start
    client1, server1 = clock.read()
    return Sample(seconds, docs, nbytes, client1 - client0, server1 - server0)


# ---------------------------------------------------------------- memory


def rss_bytes() -> int:
    return psutil.Process().memory_info().rss


class PeakRss:
    """Samples this process's RSS in a background thread; ``peak`` is the highest seen."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="peak-rss")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def run_in_subprocess(fn: Callable[..., Any], *args: Any, timeout: float = 900) -> Any:
    """``fn(*args)`` in a fresh spawned interpreter (clean RSS), returning its result.

    ``fn`` must be importable (defined at module level) and its result picklable.
    """
    receive, send = _SPAWN.Pipe(duplex=False)
    process = _SPAWN.Process(target=_call_and_send, args=(fn, args, send))
    process.start()
    if not receive.poll(timeout):
        process.kill()
        raise TimeoutError(f"{fn.__name__} did not finish within {timeout} s")
    ok, value = receive.recv()
    process.join()
    if not ok:
        raise RuntimeError(f"{fn.__name__} failed in the subprocess:\n{value}")
    return value


def _call_and_send(fn: Callable[..., Any], args: tuple, connection: Any) -> None:
    import traceback

    try:
        connection.send((True, fn(*args)))
    except BaseException:
        connection.send((False, traceback.format_exc()))
