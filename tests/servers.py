"""The real servers: FerretDB (MongoDB's wire protocol) and Versity S3 Gateway (S3), on 127.0.0.1.

``.ci/servers.sh`` builds both once from the Go module proxy into a cache folder; the first
use here builds them if they are missing. Each server runs as a child process on a free port
with its data in a fresh temporary folder, and stops with ``stop()`` (or dies with ``kill()``,
for the tests of a server that goes away mid-request).

``S3X_MONGODB_URI`` and ``S3X_S3_ENDPOINT`` (with ``S3X_S3_ACCESS_KEY``/``S3X_S3_SECRET_KEY``)
point the same suites at servers of your own instead; see the README.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from s3explore.local_s3 import LOCAL_CREDENTIALS, _Endpoint
from tests.processes import stop as stop_process

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / ".ci" / "servers.sh"
FERRETDB_VERSION = "v1.24.2"
VERSITYGW_VERSION = "v1.7.0"
_build_lock = threading.Lock()


def servers_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("S3X_SERVERS_DIR") or default / "s3explore" / "servers")


def binary(name: str, version: str) -> Path:
    """The server's binary, built by ``.ci/servers.sh`` first if it is not in the cache."""
    path = servers_dir() / f"{name}-{version}"
    with _build_lock:
        if not path.exists():
            done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True)
            if done.returncode != 0 or not path.exists():
                raise RuntimeError(f"building {name} {version} with .ci/servers.sh failed:\n"
                                   f"{done.stderr[-3000:]}")
    return path


def ensure_built() -> None:
    binary("ferretdb", FERRETDB_VERSION)
    binary("versitygw", VERSITYGW_VERSION)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(ready, process: subprocess.Popen, what: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.05)
    stop_process(process)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s:\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


class _Server:
    """A child process with a data folder of its own."""

    name = "server"

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.folder: Path | None = None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _environment(self) -> dict[str, str]:
        return dict(os.environ)

    def _ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout: float = 60) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"s3x-{self.name}-"))
        self._launch(timeout)

    def restart(self, timeout: float = 60) -> None:
        """Start again over the same data folder (after ``kill()``), on a new port: what the
        server finds when it comes back from a crash."""
        if self.running or self.folder is None:
            raise RuntimeError(f"restart() is for a {self.name} that was started and died")
        self._launch(timeout)

    def _launch(self, timeout: float) -> None:
        assert self.folder is not None
        for attempt in range(3):  # a free port can be taken between the probe and the bind
            self.port = free_port()
            log = self.folder / f"{self.name}.log"
            with log.open("wb") as out:
                self.process = subprocess.Popen(self._command(), stdout=out,
                                                stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL,
                                                env=self._environment())
            try:
                _wait_for(self._ready, self.process, self.name, log, timeout)
                return
            except RuntimeError:
                if attempt == 2 or "address already in use" not in log.read_text(errors="replace"):
                    raise

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_process(process, timeout=10)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, mid-request, as when its machine dies."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FerretDB(_Server):
    """``with FerretDB() as db: MongoStore.from_uri(db.uri, "coll")`` -- FerretDB over SQLite.

    ``username``/``password`` create a user at start-up and turn on authentication.
    """

    name = "ferretdb"

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        super().__init__()
        self.username = username
        self.password = password

    def _command(self) -> list[str]:
        assert self.folder is not None
        command = [str(binary("ferretdb", FERRETDB_VERSION)), "--handler=sqlite",
                   f"--sqlite-url=file:{self.folder}/", f"--state-dir={self.folder}",
                   f"--listen-addr=127.0.0.1:{self.port}", "--debug-addr=-",
                   "--telemetry=disable", "--log-level=error"]
        if self.username:
            command += ["--test-enable-new-auth", "--setup-database=admin",
                        f"--setup-username={self.username}",
                        f"--setup-password={self.password}"]
        return command

    def _ready(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            pass
        import pymongo

        client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=2000)
        try:
            client.admin.command("ping")
        finally:
            client.close()
        return True

    @property
    def uri(self) -> str:
        """A URI with the set-up user's credentials, when there is one."""
        if self.username:
            return (f"mongodb://{self.username}:{self.password}@127.0.0.1:{self.port}/"
                    "?authSource=admin")
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def address(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"


# The access log names operations; the tests count requests by HTTP method, as moto's gate does.
_METHODS = {"GetObject": "GET", "ListObjectsV2": "GET", "ListObjects": "GET",
            "GetBucketLocation": "GET", "GetObjectAcl": "GET", "HeadObject": "HEAD",
            "HeadBucket": "HEAD", "PutObject": "PUT", "UploadPart": "PUT", "CopyObject": "PUT",
            "CreateBucket": "PUT", "PutBucketPolicy": "PUT", "PutBucketAcl": "PUT",
            "DeleteObject": "DELETE", "DeleteBucket": "DELETE", "DeleteObjects": "POST",
            "CreateMultipartUpload": "POST", "CompleteMultipartUpload": "POST"}


class VersityS3(_Endpoint, _Server):
    """``with VersityS3() as s3: s3.endpoint_url`` -- Versity S3 Gateway over a POSIX folder.

    It takes the local endpoint's credentials as its root account, so everything written for
    moto's server connects unchanged. ``requests`` counts requests by HTTP method from the
    gateway's access log, like ``LocalS3.requests``.
    """

    name = "versitygw"

    def __init__(self) -> None:
        _Server.__init__(self)
        self._log_offset = 0

    def _command(self) -> list[str]:
        assert self.folder is not None
        (self.folder / "data").mkdir(exist_ok=True)
        (self.folder / "iam").mkdir(exist_ok=True)
        return [str(binary("versitygw", VERSITYGW_VERSION)), "--port",
                f"127.0.0.1:{self.port}", "--iam-dir", str(self.folder / "iam"), "--keep-alive",
                "--quiet", "--health", "/health", "--access-log",
                str(self.folder / "access.log"), "posix", str(self.folder / "data")]

    def _environment(self) -> dict[str, str]:
        return {**os.environ, "ROOT_ACCESS_KEY": LOCAL_CREDENTIALS["aws_access_key_id"],
                "ROOT_SECRET_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"]}

    def _ready(self) -> bool:
        with urllib.request.urlopen(f"{self.endpoint_url}/health", timeout=1) as response:
            return response.status == 200

    @property
    def endpoint_url(self) -> str:  # type: ignore[override]
        return f"http://127.0.0.1:{self.port}"

    def put_many(self, bucket: str, objects: Iterable[tuple[str, bytes, dict[str, str]]]
                 ) -> int:
        """PUT each ``(object key, body, metadata)`` (16 at a time): the gateway has no bulk
        load, and a fixture loaded through S3's API is stored as any client's would be."""
        client = self.client(max_pool_connections=16)

        def put(item: tuple[str, bytes, dict[str, str]]) -> None:
            key, body, metadata = item
            client.put_object(Bucket=bucket, Key=key, Body=bytes(body), Metadata=dict(metadata))

        with ThreadPoolExecutor(16) as pool:
            return sum(1 for _ in pool.map(put, objects))

    def add_reader(self, bucket: str, access_key: str, secret_key: str) -> dict[str, str]:
        """An IAM account that may list and read ``bucket`` and nothing else; its
        credentials as ``S3Store(s3_profile=...)`` takes them."""
        admin = [str(binary("versitygw", VERSITYGW_VERSION)), "admin",
                 "--access", LOCAL_CREDENTIALS["aws_access_key_id"],
                 "--secret", LOCAL_CREDENTIALS["aws_secret_access_key"],
                 "--endpoint-url", self.endpoint_url]
        subprocess.run([*admin, "create-user", "--access", access_key, "--secret", secret_key,
                        "--role", "user"], check=True, capture_output=True)
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": [access_key]},
            "Action": ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}
        self.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        return {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key,
                "region_name": LOCAL_CREDENTIALS["region_name"]}

    def _log_lines(self) -> list[str]:
        if self.folder is None or not (self.folder / "access.log").exists():
            return []
        with (self.folder / "access.log").open(errors="replace") as log:
            log.seek(self._log_offset)
            return log.read().splitlines()

    @property
    def requests(self) -> Counter[str]:
        """Requests since the last ``reset_counters()``, by HTTP method."""
        counts: Counter[str] = Counter()
        for line in self._log_lines():
            for field in line.split(" "):
                if field.startswith("s3_"):
                    counts[_METHODS.get(field[3:], field[3:])] += 1
                    break
        return counts

    def reset_counters(self) -> None:
        # The gateway writes a line as each request completes; a moment lets the last land.
        time.sleep(0.05)
        path = None if self.folder is None else self.folder / "access.log"
        self._log_offset = path.stat().st_size if path is not None and path.exists() else 0


class ExternalS3(_Endpoint):
    """An S3 endpoint of your own (``S3X_S3_ENDPOINT``, ``S3X_S3_ACCESS_KEY``,
    ``S3X_S3_SECRET_KEY``, ``S3X_S3_REGION``): the tests create and fill their own buckets."""

    running = True

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    @property
    def credentials(self) -> dict[str, str]:
        return {"aws_access_key_id": os.environ.get("S3X_S3_ACCESS_KEY", ""),
                "aws_secret_access_key": os.environ.get("S3X_S3_SECRET_KEY", ""),
                "region_name": os.environ.get("S3X_S3_REGION", "us-east-1")}

    put_many = VersityS3.put_many

    @property
    def requests(self) -> Counter[str]:
        import pytest

        pytest.skip("request counts need the server's access log (Versity S3 Gateway's)")

    def reset_counters(self) -> None:
        import pytest

        pytest.skip("request counts need the server's access log (Versity S3 Gateway's)")

    def stop(self) -> None:
        pass


def production_s3() -> VersityS3 | ExternalS3:
    """The S3 endpoint of ``S3X_S3_ENDPOINT``, or this process's Versity S3 Gateway."""
    if os.environ.get("S3X_S3_ENDPOINT"):
        return ExternalS3(os.environ["S3X_S3_ENDPOINT"])
    return shared("versitygw")


def mongodb_uri() -> str:
    """``S3X_MONGODB_URI``, or the URI of this process's FerretDB."""
    return os.environ.get("S3X_MONGODB_URI") or shared("ferretdb").uri


_shared: dict[str, Any] = {}
_shared_lock = threading.Lock()


def shared(kind: str) -> Any:
    """One server of ``kind`` ("ferretdb", "versitygw") for this process, started on first
    use and stopped when the process exits."""
    with _shared_lock:
        server = _shared.get(kind)
        if server is None or not server.running:
            server = {"ferretdb": FerretDB, "versitygw": VersityS3}[kind]()
            server.start()
            _shared[kind] = server
            atexit.register(server.stop)
        return server


def stop_shared() -> None:
    with _shared_lock:
        for server in _shared.values():
            server.stop()
        _shared.clear()
