"""The ``s3explore`` command line: one sub-parser per command."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from s3explore._checks import DEFAULT_WORKERS, ArgumentError, positive_int
from s3explore._cli._notebooks import NOTEBOOKS_ENV

MAX_PORT = 65535


def _checked(check: Callable[[Any, str], int], text: str) -> int:
    """``check`` (one of the package's shared checkers) on the option's text as a whole
    number, its ArgumentError as argparse's: ``argument --port: the value must be ...``."""
    try:
        value: Any = int(text)
    except ValueError:
        value = text  # the checker words the refusal, naming what was given
    try:
        return check(value, "the value")
    except ArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    return _checked(positive_int, text)


def _port(text: str) -> int:
    port = _checked(positive_int, text)
    if port > MAX_PORT:
        raise argparse.ArgumentTypeError(f"the value must be a port number from 1 to "
                                         f"{MAX_PORT}, got {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    from s3explore import __version__

    parser = argparse.ArgumentParser(
        prog="s3explore",
        description="Explore document collections in S3/MinIO with a MongoDB index.")
    parser.add_argument("--version", action="version", version=f"s3explore {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo_parser = commands.add_parser(
        "demo", help="open the notebooks on the embedded demo store (no services needed)",
        description="Open JupyterLab on the tour notebook, which builds the demo store in "
                    "the kernel. The notebooks are copied to --workdir first, so your runs "
                    "never change the originals. Arguments after `--` go to JupyterLab or "
                    "Voila unchanged.")
    mode = demo_parser.add_mutually_exclusive_group()
    mode.add_argument("--voila", action="store_true",
                      help="show the tour as an app with Voila instead of JupyterLab")
    mode.add_argument("--check", action="store_true",
                      help="run every notebook headless and report pass/fail per notebook; "
                           "exits 1 if any fails")
    demo_parser.add_argument("--port", type=_port,
                             help="server port (default 8888 for JupyterLab, 8866 for Voila)")
    demo_parser.add_argument("--no-browser", action="store_true",
                             help="do not open a browser; print the URL instead")
    demo_parser.add_argument("--notebooks", metavar="DIR",
                             help=f"the notebooks folder (default: found next to the package "
                                  f"or in ${NOTEBOOKS_ENV})")
    demo_parser.add_argument("--workdir", metavar="DIR", default="~/s3explore-demo",
                             help="where the notebooks are copied and opened "
                                  "(default: ~/s3explore-demo)")
    demo_parser.add_argument("--fresh", action="store_true",
                             help="replace notebooks already copied to --workdir")
    demo_parser.add_argument("--timeout", type=_positive_int, default=600, metavar="SECONDS",
                             help="--check: seconds allowed per cell (default 600)")
    demo_parser.add_argument("--output", metavar="DIR",
                             help="--check: also save the executed notebooks here")
    demo_parser.set_defaults(handler="demo")

    verify_parser = commands.add_parser(
        "verify", help="compare an S3Store's index with its bucket; optionally repair",
        description="Report objects without index entries, index entries without objects "
                    "and obj_hash mismatches under the sub-dir. Exit code 0 when index and "
                    "bucket agree, 1 when differences remain, 2 on errors.")
    verify_parser.add_argument("--bucket", required=True, help="the S3 bucket")
    verify_parser.add_argument("--endpoint-url", metavar="URL",
                               help="S3 endpoint, e.g. http://localhost:9000 for MinIO")
    verify_parser.add_argument("--profile", help="a profile name from ~/.aws (default: boto3's "
                                                 "usual lookup)")
    verify_parser.add_argument("--sub-dir", metavar="PREFIX", help="the store's sub_dir")
    verify_parser.add_argument("--index", required=True, metavar="URI_OR_FILE",
                               help="mongodb://[user:password@]host/database, the path of a "
                                    "DuckDB index file (idx.duckdb; opened read-only unless "
                                    "--repair), or monty:PATH for a montydb folder")
    verify_parser.add_argument("--collection", required=True,
                               help="the index collection (a DuckDB file: the collection_name "
                                    "of its DuckDBStore)")
    verify_parser.add_argument("--key", default="task_id", help="the key field (default task_id)")
    verify_parser.add_argument("--no-hashes", action="store_true",
                               help="skip obj_hash checks (entries that name their object's "
                                    "ETag need no request; others need one HEAD each)")
    verify_parser.add_argument("--deep", action="store_true",
                               help="download and decode every object: also checks objects "
                                    "without a digest (written by maggma) and finds ones that "
                                    "cannot be decoded")
    verify_parser.add_argument("--repair", action="store_true",
                               help="re-index orphaned and mismatched objects and remove "
                                    "dangling entries, after showing the plan")
    verify_parser.add_argument("--yes", action="store_true",
                               help="with --repair: do not ask for confirmation")
    verify_parser.add_argument("--workers", type=_positive_int, default=DEFAULT_WORKERS,
                               help=f"parallel S3 requests (default {DEFAULT_WORKERS})")
    verify_parser.set_defaults(handler="verify")

    open_parser = commands.add_parser(
        "open", help="browse a bucket prefix without a database (public buckets too)",
        description="Open s3://bucket/prefix read-only with s3explore.open (a published "
                    "manifest, maggma's OpenDataStore layout, or one JSON document per "
                    "object, for which a manifest is built once and kept locally) and start "
                    "JupyterLab on a notebook that browses it. Arguments after `--` go to "
                    "JupyterLab.")
    open_parser.add_argument("url", help="s3://bucket/prefix")
    open_parser.add_argument("--anonymous", action="store_true",
                             help="unsigned requests, for public buckets")
    open_parser.add_argument("--endpoint-url", metavar="URL",
                             help="S3 endpoint, e.g. http://localhost:9000 for MinIO")
    open_parser.add_argument("--profile", help="a profile name from ~/.aws")
    open_parser.add_argument("--key", help="the key field, when it cannot be told")
    open_parser.add_argument("--cache-dir", metavar="DIR",
                             help="where manifests and indexes are kept (default "
                                  "~/.cache/s3explore)")
    open_parser.add_argument("--offline", action="store_true",
                             help="use the cached index without checking the bucket (it may "
                                  "be out of date); for when the bucket cannot be reached")
    open_parser.add_argument("--check", action="store_true",
                             help="open it, print what was found and the first rows, exit")
    open_parser.add_argument("--port", type=_port, help="server port (default 8888)")
    open_parser.add_argument("--no-browser", action="store_true",
                             help="do not open a browser; print the URL instead")
    open_parser.add_argument("--workdir", metavar="DIR", default="~/s3explore-open",
                             help="where the notebook is written (default ~/s3explore-open)")
    open_parser.set_defaults(handler="open")
    return parser


