"""``s3explore verify``: compare an S3Store's index with its bucket, optionally repair."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from s3explore._cli._common import EXIT_DIFFERENCES, EXIT_OK, CommandError

INDEX_FORMS = ("a MongoDB URI naming the database (mongodb://host/db), the path of a DuckDB "
               "index file (idx.duckdb, or duckdb:PATH), or monty:PATH for a montydb folder")


def _index_store(spec: str, collection: str, key: str, writable: bool = False) -> Any:
    """The index store ``--index`` names; a DuckDB file opens read-only unless ``writable``."""
    from s3explore import DuckDBStore, MongoStore, MontyStore

    if spec.startswith(("mongodb://", "mongodb+srv://")):
        return MongoStore.from_uri(spec, collection, key=key)
    if spec.startswith("monty:"):
        path = spec[len("monty:"):]
        if not path:
            raise CommandError("--index monty:PATH needs the montydb folder, e.g. monty:./index")
        if not Path(path).expanduser().is_dir():
            raise CommandError(f"--index {spec}: no montydb folder at {path}")
        return MontyStore(collection, database_path=str(Path(path).expanduser()), key=key)
    if "://" in spec or not spec.removeprefix("duckdb:"):
        raise CommandError(f"--index must be {INDEX_FORMS}; got {spec.split('://')[0]}://...")
    path = Path(spec.removeprefix("duckdb:")).expanduser()
    if not path.is_file():
        raise CommandError(f"--index {spec}: no DuckDB index file at {path} (a MongoDB URI "
                           "starts with mongodb://, a montydb folder with monty:)")
    return DuckDBStore(collection, path=path, read_only=not writable, key=key)


def _confirm(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def verify(args: argparse.Namespace) -> int:
    from s3explore import S3Store

    index = _index_store(args.index, args.collection, args.key, writable=args.repair)
    store = S3Store(index, args.bucket, s3_profile=args.profile, endpoint_url=args.endpoint_url,
                    sub_dir=args.sub_dir, key=args.key, s3_workers=args.workers)
    check_hashes = not args.no_hashes
    deep = args.deep
    with store:
        print(f"verifying {store.name} against the index {index.name}", flush=True)
        if index.count() == 0:
            print(f"note: the index holds no entries; is --collection {args.collection} right?")
        report = store.verify(check_hashes=check_hashes, deep=deep)
        print(report)
        if report.ok:
            return EXIT_OK
        if not args.repair:
            print("differences found; --repair fixes them")
            return EXIT_DIFFERENCES
        print("repair plan:")
        for line in report.plan():
            print(f"  - {line}")
        if not args.yes and not _confirm("apply this repair?"):
            print("nothing changed")
            return EXIT_DIFFERENCES
        print(store.verify(repair=True, check_hashes=check_hashes, deep=deep))
        after = store.verify(check_hashes=check_hashes, deep=deep)
        print(f"after repair: {after}")
        return EXIT_OK if after.ok else EXIT_DIFFERENCES


