"""The ``s3explore`` command: ``s3explore demo`` and ``s3explore verify``.

``demo`` opens the notebooks on the embedded demo store (JupyterLab, or Voila with
``--voila``) or, with ``--check``, runs every notebook headless and reports. ``verify``
compares an S3Store's index with its bucket and can repair the differences.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOTEBOOKS_ENV = "S3EXPLORE_NOTEBOOKS"
TOUR = "01-tour.ipynb"
PROJECT_URL = "https://github.com/materialsproject/s3explore"
EXIT_OK, EXIT_DIFFERENCES, EXIT_ERROR = 0, 1, 2


class CommandError(Exception):
    """A problem the user can fix; printed without a traceback."""


# ---------------------------------------------------------------- notebooks


def notebook_dirs() -> list[Path]:
    """Where the notebooks may be, in the order they are looked for."""
    places = []
    if os.environ.get(NOTEBOOKS_ENV):
        places.append(Path(os.environ[NOTEBOOKS_ENV]))
    package = Path(__file__).resolve().parent
    places.append(package.parent / "notebooks")  # a source checkout or an editable install
    places.append(Path(sys.prefix) / "share" / "s3explore" / "notebooks")  # shared data files
    return places


def find_notebooks(directory: str | Path | None = None) -> Path:
    """The folder holding the notebooks; ``directory`` (``--notebooks``) wins when given."""
    if directory is not None:
        folder = Path(directory).expanduser()
        if not (folder / TOUR).is_file():
            raise CommandError(f"--notebooks {folder}: no {TOUR} there; point it at the "
                               "notebooks/ folder of an s3explore clone")
        return folder
    for folder in notebook_dirs():
        if (folder / TOUR).is_file():
            return folder
    looked = ", ".join(str(p) for p in notebook_dirs())
    raise CommandError(f"cannot find the s3explore notebooks (looked in: {looked}). Clone "
                       f"{PROJECT_URL} and pass --notebooks path/to/s3explore/notebooks, or set "
                       f"{NOTEBOOKS_ENV}")


def list_notebooks(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.ipynb"))


@dataclass
class NotebookResult:
    """How one headless notebook run went."""

    path: Path
    ok: bool
    seconds: float
    error: str = ""
    notebook: Any = None


def _python_kernel_manager() -> Any:
    """A kernel manager whose ``python3`` kernel is this interpreter, whatever is installed.

    With no kernel directories, jupyter_client falls back to ipykernel's built-in spec,
    which launches ``sys.executable``; a stale ``python3`` kernelspec elsewhere cannot win.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    return KernelManager(kernel_name="python3",
                         kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


def run_notebook(path: str | Path, timeout: int = 600, cwd: str | Path | None = None
                 ) -> NotebookResult:
    """Execute a notebook top to bottom with nbclient in a fresh kernel (this interpreter).

    The kernel runs in ``cwd`` (a new temporary folder by default) so notebooks cannot
    litter the checkout. Never raises for a failing cell: the result says what failed.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="s3explore-check-") as scratch:
        client = NotebookClient(notebook, km=_python_kernel_manager(), timeout=timeout,
                                resources={"metadata": {"path": str(cwd or scratch)}},
                                # ipykernel warns on every start about local TCP sockets
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        try:
            client.execute()
        except CellExecutionError as exc:
            return NotebookResult(path, False, time.perf_counter() - started,
                                  f"{exc.ename}: {exc.evalue}" if exc.ename else
                                  _first_line(str(exc)), notebook)
        except (CellTimeoutError, DeadKernelError, RuntimeError) as exc:
            return NotebookResult(path, False, time.perf_counter() - started,
                                  f"{type(exc).__name__}: {_first_line(str(exc))}", notebook)
    return NotebookResult(path, True, time.perf_counter() - started, "", notebook)


def check_notebooks(folder: Path, timeout: int, output: Path | None) -> int:
    import nbformat

    notebooks = list_notebooks(folder)
    print(f"running {len(notebooks)} notebooks from {folder}", flush=True)
    failed = 0
    for path in notebooks:
        result = run_notebook(path, timeout=timeout)
        status = "PASS" if result.ok else "FAIL"
        detail = f"  {result.error}" if result.error else ""
        print(f"{status} {path.name} ({result.seconds:.1f} s){detail}", flush=True)
        failed += not result.ok
        if output is not None:
            output.mkdir(parents=True, exist_ok=True)
            nbformat.write(result.notebook, output / path.name)
    print(f"{len(notebooks) - failed} passed, {failed} failed")
    return EXIT_DIFFERENCES if failed else EXIT_OK


def prepare_workdir(source: Path, workdir: Path, fresh: bool) -> Path:
    """Copy the notebooks into ``workdir`` so running them never edits the clone's copies."""
    workdir.mkdir(parents=True, exist_ok=True)
    kept = []
    for path in list_notebooks(source):
        target = workdir / path.name
        if target.exists() and not fresh:
            kept.append(path.name)
            continue
        shutil.copyfile(path, target)
    if kept:
        print(f"kept your copies of {', '.join(kept)} in {workdir} (--fresh replaces them)")
    return workdir


# Voila's lab template links Font Awesome from a CDN, which fails offline and delays the page;
# its own bundle already carries Font Awesome, so this template drops the two links.
VOILA_TEMPLATE = "s3explore"
_FONT_AWESOME_CDN = "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@^5/css/"
_VOILA_INDEX = (
    "{%- extends 'voila/templates/lab/index.html.j2' -%}\n"
    "{%- block notebook_css -%}\n"
    "{{ super()"
    + "".join(f" | replace('<link rel=\"stylesheet\" href=\"{_FONT_AWESOME_CDN}{name}\" "
              "type=\"text/css\" />', '')" for name in ("all.min.css", "v4-shims.min.css"))
    + " }}\n{%- endblock notebook_css -%}\n")


def voila_template(root: Path) -> Path:
    """Write the offline Voila template under ``root`` (a Jupyter data folder); ``root``."""
    folder = root / "voila" / "templates" / VOILA_TEMPLATE
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conf.json").write_text('{"base_template": "lab"}\n')
    (folder / "index.html.j2").write_text(_VOILA_INDEX)
    return root


def voila_command(notebook: Path, port: int, data_dir: Path) -> tuple[list[str], dict[str, str]]:
    """The Voila command and environment: every asset from this machine, and cells shown as
    they run (the first page appears at once instead of after the whole notebook)."""
    command = [sys.executable, "-m", "voila", str(notebook), f"--port={port}",
               f"--template={VOILA_TEMPLATE}",
               "--VoilaConfiguration.progressive_rendering=True"]
    paths = [str(voila_template(data_dir)), os.environ.get("JUPYTER_PATH", "")]
    env = {**os.environ, "JUPYTER_PATH": os.pathsep.join(filter(None, paths))}
    return command, env


def _run_server(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run a Jupyter/Voila server until it exits; stopping this process stops it too."""
    print("$ " + " ".join(command), flush=True)
    child = subprocess.Popen(command, env=env)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return child.wait()
    except KeyboardInterrupt:
        return child.wait()  # the server got the same Ctrl-C and shuts itself down
    finally:
        signal.signal(signal.SIGTERM, previous)
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


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
        command = [sys.executable, "-m", "jupyterlab", str(tour),
                   f"--ServerApp.root_dir={workdir}", f"--port={args.port or 8888}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # Containers often run as root, which JupyterLab refuses unless told.
            print("running as root: passing --allow-root to JupyterLab")
            command.append("--allow-root")
    if args.no_browser:
        command.append("--no-browser")
    return _run_server(command + server_args, env)


# ---------------------------------------------------------------- verify


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


# ---------------------------------------------------------------- open


def _open_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"anonymous": True} if args.anonymous else {}
    for name in ("endpoint_url", "key", "cache_dir"):
        if getattr(args, name):
            options[name] = getattr(args, name)
    if args.profile:
        options["s3_profile"] = args.profile
    return options


def open_notebook(url: str, options: dict[str, Any]) -> Any:
    """A notebook that opens ``url`` and browses it (what ``s3explore open`` starts on)."""
    import nbformat

    call = ", ".join([repr(url)] + [f"{k}={v!r}" for k, v in options.items()])
    cells = [nbformat.v4.new_markdown_cell(f"# {url}\nOpened read-only with "
                                           "`s3explore.open`: the index runs locally, "
                                           "documents are fetched when shown."),
             nbformat.v4.new_code_cell(f"import s3explore\n\nstore = s3explore.open({call})\n"
                                       "print(store.found)\nstore.count()"),
             nbformat.v4.new_code_cell("store.query_df(limit=10)"),
             nbformat.v4.new_code_cell("from s3explore.widgets import IndexBrowser\n\n"
                                       "IndexBrowser(store)")]
    return nbformat.v4.new_notebook(cells=cells)


def open_bucket(args: argparse.Namespace, server_args: list[str]) -> int:
    import nbformat

    import s3explore

    options = _open_options(args)
    if args.check:
        with s3explore.open(args.url, **options) as store:
            print(f"{store.name}: {store.found}")
            print(f"{store.count()} documents; first rows:")
            print(store.query_df(limit=5).to_string())
        return EXIT_OK
    workdir = Path(args.workdir).expanduser()
    workdir.mkdir(parents=True, exist_ok=True)
    name = "open-" + "".join(c if c.isalnum() else "-" for c in args.url[5:]).strip("-")
    path = workdir / f"{name[:80]}.ipynb"
    nbformat.write(open_notebook(args.url, options), path)
    print(f"wrote {path}")
    command = [sys.executable, "-m", "jupyterlab", str(path),
               f"--ServerApp.root_dir={workdir}", f"--port={args.port or 8888}"]
    if args.no_browser:
        command.append("--no-browser")
    return _run_server(command + server_args)


# ---------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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
    demo_parser.add_argument("--port", type=_positive_int,
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
    verify_parser.add_argument("--workers", type=_positive_int, default=8,
                               help="parallel S3 requests (default 8)")
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
    open_parser.add_argument("--check", action="store_true",
                             help="open it, print what was found and the first rows, exit")
    open_parser.add_argument("--port", type=_positive_int, help="server port (default 8888)")
    open_parser.add_argument("--no-browser", action="store_true",
                             help="do not open a browser; print the URL instead")
    open_parser.add_argument("--workdir", metavar="DIR", default="~/s3explore-open",
                             help="where the notebook is written (default ~/s3explore-open)")
    open_parser.set_defaults(handler="open")
    return parser


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


if __name__ == "__main__":
    sys.exit(main())
