"""Request engines: how object requests reach S3. ``ObjectIO`` speaks to one through the
named operations of ``Engine``; each engine is one module.

- ``obstore`` (the default): GET, PUT and HEAD in Rust, without the interpreter lock;
- ``boto3``: every request through botocore, as maggma sends them.
"""

from __future__ import annotations

from s3explore._errors import ConfigurationError
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
        raise ConfigurationError(f"engine must be one of {ENGINES}, got {engine!r}")
    return str(engine)


def make_engine(kind: str, settings: EngineSettings) -> Engine:
    """An engine of ``kind`` for ``settings.bucket`` (imports its client library now)."""
    if check_engine(kind) == "boto3":
        from s3explore._s3engine._boto import BotoEngine

        return BotoEngine(settings)
    from s3explore._s3engine._obstore import ObstoreEngine

    return ObstoreEngine(settings)


__all__ = ["DEFAULT_ENGINE", "ENGINES", "Download", "Engine", "EngineSettings", "ListPage",
           "ObjectInfo", "check_engine", "make_engine"]
