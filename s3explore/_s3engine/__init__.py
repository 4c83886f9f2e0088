"""Request engines: how object requests reach S3. ``ObjectIO`` speaks to one through the
named operations of ``Engine``; each engine is one module.

- ``obstore`` (the default): GET, PUT and HEAD in Rust, without the interpreter lock;
- ``boto3``: every request through botocore, as maggma sends them.

Under moto's in-process mock (``mock_aws``, as maggma's and many users' tests run), the
obstore engine would send real requests past the mock: requests then go through boto3.
"""

from __future__ import annotations

import sys

from s3explore._checks import one_of
from s3explore._s3engine._types import (
    Download,
    Engine,
    EngineSettings,
    ListPage,
    ObjectInfo,
)

ENGINES = ("obstore", "boto3")
DEFAULT_ENGINE = "obstore"


def check_engine(engine: object) -> str:
    if engine not in ENGINES:
        one_of(engine, "engine", ENGINES)
    return str(engine)


def mocked_in_process() -> bool:
    """Whether moto's ``mock_aws`` is patching botocore in this process now."""
    stubber = getattr(sys.modules.get("moto.core.models"), "botocore_stubber", None)
    return bool(getattr(stubber, "enabled", False))


def make_engine(kind: str, settings: EngineSettings) -> Engine:
    """An engine of ``kind`` for ``settings.bucket`` (imports its client library now)."""
    if check_engine(kind) == "boto3" or mocked_in_process():
        from s3explore._s3engine._boto import BotoEngine

        return BotoEngine(settings)
    from s3explore._s3engine._obstore import ObstoreEngine

    return ObstoreEngine(settings)


__all__ = ["DEFAULT_ENGINE", "ENGINES", "Download", "Engine", "EngineSettings", "ListPage",
           "ObjectInfo", "check_engine", "make_engine", "mocked_in_process"]
