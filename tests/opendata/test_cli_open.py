"""`s3explore open s3://... --anonymous`: check mode, and the notebook it starts on."""

from __future__ import annotations

import nbformat
import pytest

from s3explore import _cli
from tests.opendata import layouts

pytestmark = pytest.mark.real_s3


@pytest.fixture(scope="module")
def small_public(s3_server):
    bucket = s3_server.create_bucket("opendata-cli")
    client = s3_server.client()
    layouts.make_public(client, bucket)
    docs = [layouts.material(i) for i in range(200)]
    layouts.upload(client, bucket, layouts.grouped_bodies("materials", docs))
    return f"s3://{bucket}/materials"


def test_check_prints_what_it_found(small_public, s3_server, tmp_path, capsys):
    code = _cli.main(["open", small_public, "--anonymous", "--endpoint-url",
                      s3_server.endpoint_url, "--cache-dir", str(tmp_path), "--check"])
    out = capsys.readouterr().out
    assert code == 0
    assert "maggma OpenDataStore" in out and "200 documents" in out and "mp-0" in out


def test_bad_url_is_an_error_not_a_traceback(capsys):
    assert _cli.main(["open", "https://x/y", "--check"]) == _cli.EXIT_ERROR
    assert "s3explore open: error: open() takes an s3:// URL" in capsys.readouterr().err


@pytest.mark.slow
def test_starts_jupyterlab_on_a_notebook_that_browses_it(small_public, s3_server, tmp_path,
                                                         monkeypatch):
    started = []
    monkeypatch.setattr(_cli, "_run_server", lambda command: started.append(command) or 0)
    code = _cli.main(["open", small_public, "--anonymous", "--endpoint-url",
                      s3_server.endpoint_url, "--cache-dir", str(tmp_path / "cache"),
                      "--workdir", str(tmp_path), "--no-browser", "--", "--ServerApp.x=1"])
    assert code == 0 and len(started) == 1
    command = started[0]
    notebook = next(tmp_path.glob("open-*.ipynb"))
    assert "jupyterlab" in command and str(notebook) in command
    assert "--no-browser" in command and command[-1] == "--ServerApp.x=1"
    result = _cli.run_notebook(notebook, timeout=120)
    assert result.ok, result.error
    outputs = [o for c in result.notebook.cells if c.cell_type == "code" for o in c.outputs]
    text = nbformat.writes(result.notebook)
    assert "200" in text and "IndexBrowser" in text and outputs
