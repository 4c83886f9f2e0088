"""A real S3 endpoint on 127.0.0.1: moto's threaded server, optionally slowed down or faulty.

Used by the demo store, the tests and the benchmarks. ``latency`` stands in for a remote
region; ``fail_rate`` answers a fraction of requests with 500 InternalError or 503 SlowDown;
``fail_when(environ)`` answers the requests it picks with 503 SlowDown, or with the
``(status, code, message)`` it returns; ``access_keys`` makes the server refuse unknown
access key ids like AWS does. Moto keeps its buckets per process, so two servers in one
process see the same buckets.

``put_many`` loads many objects in one request, straight into moto's S3 backend (the demo
store fills this way in seconds; uploads through the S3 API are what the tests measure).
"""

from __future__ import annotations

import argparse
import json
import random
import select
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from typing import Any

import boto3
import msgpack
from botocore.config import Config

try:  # the embedded endpoint is an extra: pip install 's3explore[demo]'
    # Flask first: without it moto's server module warns to install moto[server], which the
    # demo does not need (moto[s3], flask and flask-cors are enough).
    import flask  # noqa: F401
    import flask_cors  # noqa: F401
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    from s3explore._errors import MissingDependencyError

    raise MissingDependencyError(
        f"the local S3 endpoint (demo, tests) needs moto's S3 server, and {exc.name or exc} "
        "is missing: pip install 's3explore[demo]'") from exc

__all__ = ["LOCAL_CREDENTIALS", "LocalS3", "LocalS3Process"]

# What every local server accepts: moto's dummy credentials (nothing secret).
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
                     "region_name": "us-east-1"}

# Not an S3 path: bucket names cannot start with "_".
PUT_MANY_PATH = "/_s3explore/put-many"

_FAULTS = ((500, "InternalError", "We encountered an internal error. Please try again."),
           (503, "SlowDown", "Please reduce your request rate."))


def _error_body(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>s3x</RequestId></Error>").encode()


def _access_key(environ: dict) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    marker = "Credential="
    if marker not in auth:
        return None
    return auth.split(marker, 1)[1].split("/", 1)[0]


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass  # one line per request would drown notebooks and test output


class _Gate:
    """WSGI middleware: counts requests, adds latency, injects faults, checks access keys."""

    def __init__(self, app: Callable, owner: LocalS3) -> None:
        self.app = app
        self.owner = owner

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        owner = self.owner
        method = environ.get("REQUEST_METHOD", "GET")
        if environ.get("PATH_INFO") == PUT_MANY_PATH and method == "POST":
            return _put_many(environ, start_response)
        with owner._lock:
            owner.in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
            owner.requests[method] += 1
        try:
            if owner.latency:
                time.sleep(owner.latency)
            fault = owner._pick_fault(environ)
            if fault is None and owner.access_keys is not None:
                key_id = _access_key(environ)
                if key_id is not None and key_id not in owner.access_keys:
                    fault = (403, "InvalidAccessKeyId",
                             "The AWS Access Key Id you provided does not exist in our records.")
            if fault is None:
                return self.app(environ, start_response)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length:
                environ["wsgi.input"].read(length)  # drain the body so the connection stays usable
            status, code, message = fault
            with owner._lock:
                owner.faults[code] += 1
            body = b"" if method == "HEAD" else _error_body(code, message)
            start_response(f"{status} {code}", [("Content-Type", "application/xml"),
                                                ("Content-Length", str(len(body)))])
            return [body]
        finally:
            with owner._lock:
                owner.in_flight -= 1


def _put_many(environ: dict, start_response: Callable) -> list[bytes]:
    """Store ``[bucket, key, body, metadata]`` items as moto stores a PUT: body, ETag,
    ``x-amz-meta-*`` metadata (names lower-cased, as moto does) and the bucket's ACL."""
    from moto.s3.models import s3_backends

    length = int(environ.get("CONTENT_LENGTH") or 0)
    items = msgpack.unpackb(environ["wsgi.input"].read(length), raw=False)
    try:
        for bucket_name, key, body, metadata in items:
            partition, account = s3_backends.bucket_accounts[bucket_name]
            backend = s3_backends[account][partition]
            bucket = backend.get_bucket(bucket_name)
            stored = backend.put_object(bucket_name, key, body)
            stored.set_metadata({f"x-amz-meta-{name.lower()}": value
                                 for name, value in metadata.items()})
            stored.set_acl(bucket.acl)
    except KeyError as exc:
        body = json.dumps({"error": f"no bucket {exc.args[0]!r}"}).encode()
        start_response("404 Not Found", [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    body = json.dumps({"stored": len(items)}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


class _Endpoint:
    """What both kinds of local server offer once they run."""

    endpoint_url: str

    @property
    def credentials(self) -> dict[str, str]:
        """boto3.Session arguments this server accepts (moto's dummy credentials): pass them
        as ``S3Store(..., s3_profile=server.credentials)``."""
        return dict(LOCAL_CREDENTIALS)

    def client(self, **config: Any) -> Any:
        """A plain boto3 client for this server, with its credentials."""
        return boto3.client("s3", endpoint_url=self.endpoint_url, **self.credentials,
                            config=Config(**config) if config else None)

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def put_many(self, bucket: str, objects: Iterable[tuple[str, bytes, dict[str, str]]]
                 ) -> int:
        """Store ``(object key, body, metadata)`` items in one request, skipping S3's API.

        What lands is what a PUT with ``Metadata=metadata`` stores; a local shortcut for
        loading fixtures (one request instead of one per object), not part of S3.
        """
        payload = msgpack.packb([[bucket, key, bytes(body), dict(metadata)]
                                 for key, body, metadata in objects], use_bin_type=True)
        request = urllib.request.Request(self.endpoint_url + PUT_MANY_PATH, data=payload,
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return int(json.loads(response.read())["stored"])
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise RuntimeError(f"put_many to {self.endpoint_url}: {detail}") from None


class LocalS3(_Endpoint, ThreadedMotoServer):
    """``with LocalS3() as s3: s3.endpoint_url`` -- a moto S3 server on a free local port."""

    def __init__(
        self,
        port: int = 0,
        *,
        latency: float = 0.0,
        fail_rate: float = 0.0,
        fail_methods: Collection[str] = ("GET", "PUT", "HEAD", "POST", "DELETE"),
        fail_when: Callable[[dict], bool | tuple[int, str, str]] | None = None,
        access_keys: Collection[str] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self.latency = latency
        self.fail_rate = fail_rate
        self.fail_methods = set(fail_methods)
        self.fail_when = fail_when
        self.access_keys = set(access_keys) if access_keys is not None else None
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def _server_entry(self) -> None:
        # S3 only: moto's host dispatcher lists its package folder on every request, a third
        # of the server's time per PUT.
        app = _Gate(create_backend_app("s3"), self)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=_QuietHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    def _pick_fault(self, environ: dict) -> tuple[int, str, str] | None:
        if environ.get("REQUEST_METHOD") not in self.fail_methods:
            return None
        if self.fail_when is not None and (fault := self.fail_when(environ)):
            return fault if isinstance(fault, tuple) else _FAULTS[1]
        if self.fail_rate:
            with self._lock:
                roll = self._random.random()
                pick = self._random.randrange(len(_FAULTS))
            if roll < self.fail_rate:
                return _FAULTS[pick]
        return None

    @property
    def endpoint_url(self) -> str:  # type: ignore[override]
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def reset_counters(self) -> None:
        with self._lock:
            self.max_in_flight = self.in_flight
            self.requests.clear()
            self.faults.clear()

    def __enter__(self) -> LocalS3:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalS3Process(_Endpoint):
    """A LocalS3 in a child Python process: ``with LocalS3Process() as s3: s3.endpoint_url``.

    moto is CPU-bound Python; in its own process it has a core of its own instead of sharing
    the interpreter lock with the client, which roughly halves the time of a bulk upload on
    two cores. The child stops when ``stop()`` closes its stdin, and also when this process
    dies, however it dies, since the operating system then closes that pipe.
    """

    def __init__(self, latency: float = 0.0, startup_timeout: float = 60.0) -> None:
        self._latency = latency
        self.startup_timeout = startup_timeout
        self.endpoint_url = ""
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "s3explore.local_s3", "--latency", str(self._latency)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True)
        ready, _, _ = select.select([self._process.stdout], [], [], self.startup_timeout)
        line = self._process.stdout.readline().strip() if ready else ""
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the local S3 server process did not start within "
                               f"{self.startup_timeout:.0f} s")
        self.endpoint_url = line

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    @property
    def latency(self) -> float:
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        """Change the delay per request while the server runs (it reads its stdin)."""
        self._latency = float(seconds)
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.write(f"latency {self._latency}\n")
            self._process.stdin.flush()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """Started, not stopped, and the child process has not exited."""
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LocalS3Process:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve_until_stdin_closes(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m s3explore.local_s3",
                                     description="Serve a local S3 endpoint (moto) until "
                                                 "standard input closes.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    args = parser.parse_args(argv)
    with LocalS3(latency=args.latency) as server:
        print(server.endpoint_url, flush=True)
        # Commands arrive one per line; end of file means the parent closed the pipe or died.
        for line in sys.stdin:
            command, _, value = line.partition(" ")
            if command == "latency":
                server.latency = float(value)


if __name__ == "__main__":
    _serve_until_stdin_closes()
