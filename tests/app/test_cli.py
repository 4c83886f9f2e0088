"""The ``s3explore`` command: help, ``demo --check``, the servers it starts, and ``verify``."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from s3explore import DuckDBStore, MontyStore, S3Store
from s3explore._cli import find_notebooks, main, open_notebook, prepare_workdir
from s3explore._cli._servers import ANNOUNCEMENTS, lab_settings_dir
from tests.conftest import CREDENTIALS
from tests.processes import stop

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "s3explore._cli"]


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, **kwargs)


# ------------------------------------------------------------------ help


@pytest.mark.parametrize("command, options", [
    ((), ["demo", "verify", "open", "--version"]),
    (("demo",), ["--voila", "--check", "--port", "--no-browser", "--notebooks", "--workdir"]),
    (("verify",), ["--bucket", "--endpoint-url", "--profile", "--sub-dir", "--index",
                   "--collection", "--key", "--no-hashes", "--deep", "--repair", "--yes"]),
])
def test_help_lists_every_option(command, options):
    done = run_cli(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: s3explore")
    for option in options:
        assert option in done.stdout


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "s3explore"
    done = subprocess.run([str(script), "verify", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "--repair" in done.stdout


def test_no_command_is_a_usage_error():
    done = run_cli()
    assert done.returncode == 2 and "COMMAND" in done.stderr


VERIFY = ["verify", "--bucket", "b", "--index", "idx.duckdb", "--collection", "c"]


@pytest.mark.parametrize("argv, message", [
    ([*VERIFY, "--workers", "0"], "argument --workers: the value must be a whole number >= 1, "
                                  "got 0"),
    ([*VERIFY, "--workers", "2.5"], "argument --workers: the value must be a whole number "
                                    ">= 1, got '2.5'"),
    (["demo", "--timeout", "-5"], "argument --timeout: the value must be a whole number >= 1, "
                                  "got -5"),
    (["demo", "--port", "many"], "argument --port: the value must be a whole number >= 1, "
                                 "got 'many'"),
    (["open", "s3://b/p", "--port", "70000"], "argument --port: the value must be a port "
                                              "number from 1 to 65535, got 70000"),
])
def test_bad_numbers_are_usage_errors_in_the_shared_words(argv, message, capsys):
    """The shared checkers' wording, as argparse reports: usage, the option, exit code 2,
    before anything runs."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: s3explore ") and f"error: {message}\n" in err


def test_good_numbers_reach_the_command():
    from s3explore._cli import build_parser

    args = build_parser().parse_args([*VERIFY, "--workers", "3"])
    assert args.workers == 3
    assert build_parser().parse_args(VERIFY).workers == 8
    assert build_parser().parse_args(["open", "s3://b/p", "--port", "65535"]).port == 65535


# ------------------------------------------------------------------ finding notebooks


def test_finds_the_checkout_notebooks():
    assert find_notebooks() == REPO / "notebooks"


def test_notebooks_env_var_wins(tmp_path, monkeypatch):
    make_notebooks(tmp_path, ok=True)
    monkeypatch.setenv("S3EXPLORE_NOTEBOOKS", str(tmp_path))
    assert find_notebooks() == tmp_path


def test_missing_notebooks_say_where_they_were_looked_for(tmp_path, monkeypatch, capsys):
    places = [tmp_path / "a", tmp_path / "b"]
    monkeypatch.setattr("s3explore._cli._notebooks.notebook_dirs", lambda: places)
    assert main(["demo", "--check"]) == 2
    err = capsys.readouterr().err
    assert all(str(p) in err for p in places)
    assert "--notebooks" in err and "S3EXPLORE_NOTEBOOKS" in err


def test_a_folder_without_notebooks_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--check", "--notebooks", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "01-tour.ipynb" in err


def test_workdir_copies_keep_edits_unless_fresh(tmp_path):
    source = tmp_path / "source"
    make_notebooks(source, ok=True)
    work = tmp_path / "work"
    prepare_workdir(source, work, fresh=False)
    (work / "01-tour.ipynb").write_text("edited")
    prepare_workdir(source, work, fresh=False)
    assert (work / "01-tour.ipynb").read_text() == "edited"
    prepare_workdir(source, work, fresh=True)
    assert (work / "01-tour.ipynb").read_bytes() == (source / "01-tour.ipynb").read_bytes()


# ------------------------------------------------------------------ demo --check

MARKER = "s3explore-marker-4711"


def make_notebooks(folder: Path, ok: bool) -> None:
    """A tour that records its interpreter, and a second notebook that fails unless ``ok``."""
    folder.mkdir(parents=True, exist_ok=True)
    tour = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# tiny tour"),
        nbformat.v4.new_code_cell(f"import sys\nprint({MARKER!r}, sys.executable)"),
    ])
    second = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("x + 1" if ok else "raise ValueError('boom in cell two')"),
    ])
    nbformat.write(tour, folder / "01-tour.ipynb")
    nbformat.write(second, folder / "02-second.ipynb")


def test_check_reports_each_notebook_and_fails_on_a_failure(tmp_path):
    make_notebooks(tmp_path / "nb", ok=False)
    done = run_cli("demo", "--check", "--notebooks", str(tmp_path / "nb"),
                   "--output", str(tmp_path / "out"))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("PASS 01-tour.ipynb") for line in lines)
    assert any(line.startswith("FAIL 02-second.ipynb") and "ValueError: boom in cell two" in line
               for line in lines)
    assert lines[-1] == "1 passed, 1 failed"
    # The kernel is the interpreter running the command, whatever kernelspecs exist.
    executed = nbformat.read(tmp_path / "out" / "01-tour.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["text"].strip() == f"{MARKER} {sys.executable}"


def test_check_passes_when_every_notebook_runs(tmp_path):
    make_notebooks(tmp_path, ok=True)
    done = run_cli("demo", "--check", "--notebooks", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "2 passed, 0 failed"


# ------------------------------------------------------------------ demo servers


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(process: subprocess.Popen, url: str, seconds: float = 90) -> str:
    """The body at ``url`` once the server answers; fails early if the command exits."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.read().decode()
        except OSError:
            assert process.poll() is None, f"the command exited with {process.returncode}"
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def port_closes(port: int, seconds: float = 30) -> bool:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.2)
    return False


@pytest.fixture
def demo_server(tmp_path):
    """``start(*args)``: run ``s3explore demo`` on a tiny notebook folder; stopped after."""
    started: list[subprocess.Popen] = []
    make_notebooks(tmp_path / "nb", ok=True)

    def start(*args: str) -> tuple[subprocess.Popen, int]:
        port = free_port()
        env = {**os.environ, "JUPYTER_TOKEN": "test-token"}
        process = subprocess.Popen(
            [*CLI, "demo", "--no-browser", "--port", str(port), "--notebooks",
             str(tmp_path / "nb"), "--workdir", str(tmp_path / "work"), *args],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        return process, port

    yield start
    for process in started:
        stop(process)


def test_demo_serves_the_tour_in_jupyterlab_and_stops_with_the_command(demo_server, tmp_path):
    process, port = demo_server()
    body = wait_for(process, f"http://127.0.0.1:{port}/api/contents/01-tour.ipynb?token=test-token")
    assert MARKER in body
    assert (tmp_path / "work" / "01-tour.ipynb").is_file()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert port_closes(port), "JupyterLab kept running after the command was stopped"


def lab_page_config(page: str) -> dict:
    """The page config JupyterLab's /lab page hands its front end."""
    import json
    import re

    found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                      page, re.S)
    assert found, "no jupyter-config-data in the /lab page"
    return json.loads(found.group(1))


def test_demo_jupyterlab_has_no_news_popup(demo_server):
    """JupyterLab's announcements extension (the news pop-up over the widgets) is disabled
    for the sessions the command starts, and only for them."""
    process, port = demo_server()
    page = wait_for(process, f"http://127.0.0.1:{port}/lab?token=test-token")
    assert ANNOUNCEMENTS in lab_page_config(page)["disabledExtensions"]
    installed = lab_settings_dir.__globals__["_installed_settings_dir"]()
    assert installed is None or not (installed / "page_config.json").is_file() or \
        ANNOUNCEMENTS not in (installed / "page_config.json").read_text()


def test_open_serves_a_notebook_with_a_kernel_even_as_root(tmp_path):
    """`s3explore open` starts JupyterLab (adding --allow-root when run as root, as these
    tests often are) on a notebook that names its kernel, so no "Select Kernel" dialog."""
    port = free_port()
    env = {**os.environ, "JUPYTER_TOKEN": "test-token"}
    process = subprocess.Popen(
        [*CLI, "open", "s3://some-bucket/some/prefix", "--anonymous", "--no-browser", "--port",
         str(port), "--workdir", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        name = "open-some-bucket-some-prefix.ipynb"
        body = wait_for(process, f"http://127.0.0.1:{port}/api/contents/{name}?token=test-token")
        import json

        metadata = json.loads(body)["content"]["metadata"]
        assert metadata["kernelspec"]["name"] == "python3"
        assert metadata["kernelspec"]["language"] == "python"
        page = wait_for(process, f"http://127.0.0.1:{port}/lab?token=test-token")
        assert ANNOUNCEMENTS in lab_page_config(page)["disabledExtensions"]
    finally:
        stop(process)
    output = process.stdout.read()
    assert "Running as root is not recommended" not in output


@pytest.mark.parametrize("uid, allowed", [(0, True), (1000, False)])
def test_jupyterlab_gets_allow_root_only_as_root(uid, allowed, tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr("s3explore._cli._servers.os.geteuid", lambda: uid)
    monkeypatch.setattr("s3explore._cli._run_server",
                        lambda command, env=None: started.append(command) or 0)
    assert main(["open", "s3://b/p", "--workdir", str(tmp_path / "o"), "--no-browser"]) == 0
    assert main(["demo", "--workdir", str(tmp_path / "d"), "--no-browser"]) == 0
    assert [("--allow-root" in command) for command in started] == [allowed, allowed]


def test_open_notebook_names_the_python_kernel():
    notebook = open_notebook("s3://b/p", {"anonymous": True})
    assert notebook.metadata["kernelspec"] == {"name": "python3", "language": "python",
                                               "display_name": "Python 3 (ipykernel)"}
    nbformat.validate(notebook)


def test_demo_voila_serves_the_tour_without_cdn_links(demo_server):
    """Cells arrive over the kernel's websocket as they run (progressive rendering), so the
    page itself carries Voila's scripts but not the outputs yet; test_voila_offline runs it
    in a browser."""
    process, port = demo_server("--voila")
    page = wait_for(process, f"http://localhost:{port}/?token=test-token")
    assert "/voila/static/voila.js" in page
    assert "cdn.jsdelivr.net" not in page and "fontawesome-free" not in page
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert port_closes(port)


# ------------------------------------------------------------------ verify


@pytest.fixture(params=["duckdb", "monty"])
def indexed(request, in_tmp, make_store, tmp_path, bucket, s3_server):
    """A store with 6 documents and an on-disk index (a DuckDB file, a montydb folder), plus
    the CLI arguments for it."""
    if request.param == "duckdb":
        index, spec = DuckDBStore("entries", path=tmp_path / "idx.duckdb"), "idx.duckdb"
    else:
        (tmp_path / "index").mkdir()
        index = MontyStore("entries", database_path=str(tmp_path / "index"))
        spec = f"monty:{tmp_path / 'index'}"
    store = make_store(index=index, sub_dir="runs", compress=True, searchable_fields=["nsites"])
    assert store.update([{"task_id": f"k{i}", "nsites": i, "body": "x" * i} for i in range(6)]).ok
    store.close()  # the command opens the index itself
    args = ["verify", "--bucket", bucket, "--endpoint-url", s3_server.endpoint_url,
            "--sub-dir", "runs", "--index", spec, "--collection", "entries"]
    return store, args


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Relative paths such as --index idx.duckdb resolve in the test's folder."""
    monkeypatch.chdir(tmp_path)


def stray_store(s3_server, bucket) -> S3Store:
    """Another store on the same bucket and sub_dir with its own index: writes objects only."""
    from s3explore import MemoryStore

    store = S3Store(MemoryStore(f"stray-{bucket}"), bucket, s3_profile=dict(CREDENTIALS),
                    endpoint_url=s3_server.endpoint_url, sub_dir="runs", compress=True,
                    searchable_fields=["nsites"])
    store.connect()
    return store


def test_verify_agreeing_index_and_bucket(indexed, capsys):
    _, args = indexed
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "6 objects, 6 index entries (hashes checked" in out
    assert "index and bucket agree" in out


def test_verify_reports_orphans_dangling_and_mismatches(indexed, s3_server, bucket, capsys):
    _, args = indexed
    with stray_store(s3_server, bucket) as stray:
        stray.update([{"task_id": "orphan", "nsites": 9}, {"task_id": "k2", "nsites": 99}])
    s3_server.client().delete_object(Bucket=bucket, Key="runs/k4")
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "objects without index entry: 1 (orphan)" in out
    assert "index entries without object: 1 (k4)" in out
    assert "hash mismatches: 1 (k2)" in out
    assert "--repair" in out
    assert main([*args, "--no-hashes"]) == 1
    out = capsys.readouterr().out
    assert "hash mismatches" not in out and "(hashes checked)" not in out


def test_verify_deep_checks_objects_without_a_digest(indexed, s3_server, bucket, capsys):
    _, args = indexed
    raw = s3_server.client()
    head = raw.head_object(Bucket=bucket, Key="runs/k1")  # rewritten as maggma would
    plain = {k: v for k, v in head["Metadata"].items() if k not in ("obj-hash", "obj-etag")}
    raw.put_object(Bucket=bucket, Key="runs/k1", Metadata=plain,
                   Body=raw.get_object(Bucket=bucket, Key="runs/k2")["Body"].read())
    assert main(args) == 0
    assert "hashes not checked: 1 object(s)" in capsys.readouterr().out
    assert main([*args, "--deep"]) == 1
    out = capsys.readouterr().out
    assert "(bodies decoded)" in out and "hash mismatches: 1 (k1)" in out


def test_verify_repair_yes_fixes_everything(indexed, s3_server, bucket, capsys):
    store, args = indexed
    with stray_store(s3_server, bucket) as stray:
        stray.update([{"task_id": "orphan", "nsites": 9}])
    s3_server.client().delete_object(Bucket=bucket, Key="runs/k4")
    assert main([*args, "--repair", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "repair plan:" in out and "re-index 1 object(s)" in out
    assert "after repair:" in out and "index and bucket agree" in out
    store.connect()
    assert store.index.query_one({"task_id": "orphan"})["nsites"] == 9
    assert store.index.count({"task_id": "k4"}) == 0
    store.close()
    assert main(args) == 0


@pytest.mark.parametrize("answer, code", [("n\n", 1), ("", 1), ("y\n", 0)])
def test_verify_repair_asks_first(indexed, s3_server, bucket, capsys, monkeypatch, answer, code):
    store, args = indexed
    s3_server.client().delete_object(Bucket=bucket, Key="runs/k1")
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    assert main([*args, "--repair"]) == code
    out = capsys.readouterr().out
    assert "apply this repair? [y/N]" in out
    store.connect()
    assert store.index.count({"task_id": "k1"}) == (0 if answer.startswith("y") else 1)
    store.close()


def test_verify_with_a_named_profile(indexed, capsys):
    _, args = indexed
    assert main([*args, "--profile", "default"]) == 0


@pytest.mark.parametrize("extra, message", [
    (["--profile", "no-such-profile"], "no-such-profile"),
    (["--bucket", "no-such-bucket-s3x"], "no-such-bucket-s3x"),
])
def test_verify_errors_name_the_culprit(indexed, capsys, extra, message):
    _, args = indexed
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("s3explore verify: error:") and message in err


@pytest.mark.parametrize("spec, message", [
    ("sqlite:///x.db", "--index must be"),
    ("monty:", "monty:PATH needs"),
    ("monty:/no/such/folder", "no montydb folder"),
    ("/no/such/idx.duckdb", "no DuckDB index file at /no/such/idx.duckdb"),
    ("duckdb:", "--index must be"),
])
def test_verify_bad_index_spec(spec, message, capsys):
    assert main(["verify", "--bucket", "b", "--index", spec, "--collection", "c"]) == 2
    assert message in capsys.readouterr().err


def test_verify_never_prints_the_index_password(bucket, s3_server):
    done = run_cli("verify", "--bucket", bucket, "--endpoint-url", s3_server.endpoint_url,
                   "--index", "mongodb://reader:hunter2-secret@127.0.0.1:9/db",
                   "--collection", "c")
    assert done.returncode == 2
    assert "error:" in done.stderr
    assert "hunter2" not in done.stdout + done.stderr


def test_verify_without_repair_leaves_a_duckdb_index_file_unchanged(tmp_path, make_store,
                                                                     s3_server, bucket, capsys):
    path = tmp_path / "idx.duckdb"
    store = make_store(index=DuckDBStore("entries", path=path), searchable_fields=["nsites"])
    store.update([{"task_id": "a", "nsites": 1}, {"task_id": "b", "nsites": 2}])
    store.close()
    s3_server.client().delete_object(Bucket=bucket, Key="b")
    before = path.read_bytes()
    args = ["verify", "--bucket", bucket, "--endpoint-url", s3_server.endpoint_url,
            "--index", f"duckdb:{path}", "--collection", "entries"]
    assert main(args) == 1
    assert "index entries without object: 1 (b)" in capsys.readouterr().out
    assert path.read_bytes() == before  # opened read-only


def test_verify_says_when_the_index_is_empty(tmp_path, make_store, s3_server, bucket, capsys):
    path = tmp_path / "idx.duckdb"
    store = make_store(index=DuckDBStore("entries", path=path), searchable_fields=["nsites"])
    store.update([{"task_id": "a", "nsites": 1}])
    store.close()
    assert main(["verify", "--bucket", bucket, "--endpoint-url", s3_server.endpoint_url,
                 "--index", str(path), "--collection", "other"]) == 1
    out = capsys.readouterr().out
    assert "the index holds no entries; is --collection other right?" in out
    assert "objects without index entry: 1 (a)" in out
