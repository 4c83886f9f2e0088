"""The ``s3explore`` command: ``s3explore demo``, ``s3explore open`` and ``s3explore verify``.

``demo`` opens the notebooks on the embedded demo store (JupyterLab, or Voila with
``--voila``) or, with ``--check``, runs every notebook headless and reports. ``open`` browses
a bucket prefix without a database. ``verify`` compares an S3Store's index with its bucket
and can repair the differences.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from s3explore._cli._common import EXIT_DIFFERENCES, EXIT_ERROR, EXIT_OK, CommandError
from s3explore._cli._notebooks import (
    NOTEBOOKS_ENV,
    PROJECT_URL,
    TOUR,
    NotebookResult,
    check_notebooks,
    find_notebooks,
    list_notebooks,
    notebook_dirs,
    prepare_workdir,
    run_notebook,
)
from s3explore._cli._open import check as check_open
from s3explore._cli._open import notebook_name, open_notebook, open_options
from s3explore._cli._parser import build_parser
from s3explore._cli._servers import (
    VOILA_TEMPLATE,
    _run_server,
    jupyterlab_command,
    voila_command,
    voila_template,
)
from s3explore._cli._verify import verify

__all__ = ["EXIT_DIFFERENCES", "EXIT_ERROR", "EXIT_OK", "NOTEBOOKS_ENV", "PROJECT_URL", "TOUR",
           "VOILA_TEMPLATE", "CommandError", "NotebookResult", "build_parser", "demo",
           "find_notebooks", "list_notebooks", "main", "notebook_dirs", "open_bucket",
           "open_notebook", "prepare_workdir", "run_notebook", "verify", "voila_command",
           "voila_template"]


def demo(args: argparse.Namespace, server_args: list[str]) -> int:
    source = find_notebooks(args.notebooks)
    if args.check:
        output = Path(args.output) if args.output else None
        return check_notebooks(source, args.timeout, output)
    workdir = prepare_workdir(source, Path(args.workdir).expanduser(), args.fresh)
    tour = workdir / TOUR
    env = None
    if args.voila:
        command, env = voila_command(tour, args.port or 8866, workdir / ".jupyter-data")
    else:
        command = jupyterlab_command(tour, workdir, args.port or 8888)
    if args.no_browser:
        command.append("--no-browser")
    return _run_server(command + server_args, env)


def open_bucket(args: argparse.Namespace, server_args: list[str]) -> int:
    import nbformat

    options = open_options(args)
    if args.check:
        check_open(args.url, options)
        return EXIT_OK
    workdir = Path(args.workdir).expanduser()
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / notebook_name(args.url)
    nbformat.write(open_notebook(args.url, options), path)
    print(f"wrote {path}")
    command = jupyterlab_command(path, workdir, args.port or 8888)
    if args.no_browser:
        command.append("--no-browser")
    return _run_server(command + server_args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    server_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, server_args = argv[:cut], argv[cut + 1:]
    args = build_parser().parse_args(argv)
    if server_args and args.handler not in ("demo", "open"):
        build_parser().error("arguments after `--` are only for `s3explore demo` and `open`")
    from s3explore import S3ExploreError

    try:
        if args.handler == "demo":
            return demo(args, server_args)
        if args.handler == "open":
            return open_bucket(args, server_args)
        return verify(args)
    except (CommandError, S3ExploreError) as exc:
        print(f"s3explore {args.handler}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
