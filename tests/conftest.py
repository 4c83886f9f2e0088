"""Shared fixtures: real S3 endpoints over HTTP and stores on them.

``s3_server`` is moto's server. A module (or test) marked ``real_s3`` runs on Versity S3
Gateway too (the production S3 server, or the endpoint ``S3X_S3_ENDPOINT`` names), once per
server; ``moto_only`` keeps a test on moto where it needs moto's fault gate or its
process-wide buckets, and says so.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3explore import MemoryStore, S3Store
from s3explore.local_s3 import LOCAL_CREDENTIALS, LocalS3
from tests import servers

_bucket_ids = itertools.count()

# The local endpoint's credentials, as it exposes them, so no test depends on ~/.aws.
CREDENTIALS = dict(LOCAL_CREDENTIALS)


@pytest.fixture(autouse=True)
def _isolated_aws_config(tmp_path_factory, monkeypatch):
    """Point boto3 at empty AWS config files so the machine's profiles never leak in."""
    home = tmp_path_factory.mktemp("aws")
    (home / "config").write_text("[default]\nregion = us-east-1\n")
    (home / "credentials").write_text(
        f"[default]\naws_access_key_id = {CREDENTIALS['aws_access_key_id']}\n"
        f"aws_secret_access_key = {CREDENTIALS['aws_secret_access_key']}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)


S3_SERVERS = ("moto", "versitygw")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marked = metafunc.definition.get_closest_marker
    if "s3_server" in metafunc.fixturenames and marked("real_s3") and not marked("moto_only"):
        metafunc.parametrize("s3_server", S3_SERVERS, indirect=True, scope="session")


# The fast lane, `pytest -m "not slow"`: the tests that need no browser, notebook, app, Dask
# cluster, hostile input run in child processes, or second server variant are marked here by
# rule, so a new one lands in the right lane without anyone marking it; any other test that
# takes 0.8 s or more carries @pytest.mark.slow itself, and the session's summary names
# those that do not. CI runs both lanes.
SLOW_FOLDERS = frozenset({"app", "browser", "dask", "hardening", "untrusted"})
SLOW_VARIANTS = frozenset({"versitygw", "mongo-ferretdb"})
FAST_LANE_LIMIT = 0.8  # seconds a test of the fast lane may take before the summary names it
_unmarked_slow: list[tuple[float, str]] = []
TESTS_DIR = Path(__file__).resolve().parent


def _fast_lane(config: pytest.Config) -> bool:
    return " ".join(str(config.getoption("markexpr", "")).split()) == "not slow"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # Every test in these folders is slow, so the fast lane does not even import them
    # (Jupyter, nbformat and Dask take seconds to import); the summary says so.
    if (_fast_lane(config) and collection_path.name in SLOW_FOLDERS
            and collection_path.parent == TESTS_DIR):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (item.path.parent.name in SLOW_FOLDERS or item.get_closest_marker("browser")
                or SLOW_VARIANTS & {v for v in params.values() if isinstance(v, str)}):
            item.add_marker(pytest.mark.slow)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if (report.when == "call" and report.duration >= FAST_LANE_LIMIT
            and "slow" not in report.keywords):
        _unmarked_slow.append((report.duration, report.nodeid))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _fast_lane(terminalreporter.config):
        terminalreporter.write_line(
            "fast lane: tests/{" + ",".join(sorted(SLOW_FOLDERS)) + "}/ are slow by rule and "
            "were not collected; CI runs them (plain `pytest`)")
    if _unmarked_slow:
        terminalreporter.section("fast lane")
        terminalreporter.write_line(
            f"{len(_unmarked_slow)} test(s) outside the slow lane took {FAST_LANE_LIMIT} s or "
            "more; mark them @pytest.mark.slow to keep `pytest -m \"not slow\"` quick:")
        for seconds, nodeid in sorted(_unmarked_slow, reverse=True)[:20]:
            terminalreporter.write_line(f"  {seconds:5.1f} s  {nodeid}")


def pytest_sessionstart(session: pytest.Session) -> None:
    # Build the real servers before any test runs (cached: a look at two files), so a
    # first build is not charged to one test's timeout.
    if not (os.environ.get("S3X_MONGODB_URI") and os.environ.get("S3X_S3_ENDPOINT")):
        servers.ensure_built()


def pytest_sessionfinish(session: pytest.Session) -> None:
    servers.stop_shared()


@pytest.fixture(scope="session")
def s3_server(request: pytest.FixtureRequest):
    """The S3 endpoint this test runs on: moto's, or the production one for ``real_s3``."""
    kind = getattr(request, "param", "moto")
    return request.getfixturevalue("moto_s3" if kind == "moto" else "production_s3")


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[LocalS3]:
    """One moto server for the session; tests use their own buckets."""
    with LocalS3() as server:
        yield server


@pytest.fixture(scope="session")
def production_s3():
    """Versity S3 Gateway for the session (or the endpoint ``S3X_S3_ENDPOINT`` names)."""
    return servers.production_s3()


@pytest.fixture
def bucket(s3_server: LocalS3) -> str:
    return s3_server.create_bucket(f"test-bucket-{os.getpid()}-{next(_bucket_ids)}")


@pytest.fixture
def make_store(s3_server: LocalS3, bucket: str):
    """``make_store(**kwargs)``: a connected S3Store on a fresh bucket and MemoryStore index."""
    stores: list[S3Store] = []

    def factory(endpoint: LocalS3 | None = None, **kwargs) -> S3Store:
        kwargs.setdefault("index", MemoryStore(f"index-{bucket}-{len(stores)}"))
        kwargs.setdefault("bucket", bucket)
        server = endpoint or s3_server
        kwargs.setdefault("s3_profile", server.credentials)
        kwargs.setdefault("endpoint_url", server.endpoint_url)
        store = S3Store(**kwargs)
        store.connect()
        stores.append(store)
        return store

    yield factory
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store) -> S3Store:
    return make_store(compress=True, searchable_fields=["formula", "nsites", "band_gap"])
