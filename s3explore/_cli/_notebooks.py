"""Finding, copying and running the notebooks (``s3explore demo``), and Voila's template."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3explore._cli._common import EXIT_DIFFERENCES, EXIT_OK, CommandError

NOTEBOOKS_ENV = "S3EXPLORE_NOTEBOOKS"
TOUR = "01-tour.ipynb"
PROJECT_URL = "https://github.com/materialsproject/s3explore"


def notebook_dirs() -> list[Path]:
    """Where the notebooks may be, in the order they are looked for."""
    places = []
    if os.environ.get(NOTEBOOKS_ENV):
        places.append(Path(os.environ[NOTEBOOKS_ENV]))
    package = Path(__file__).resolve().parents[1]
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
