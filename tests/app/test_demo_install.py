"""The demo extra stays light: moto's S3 backend and its threaded server, not moto[server].

moto[server] pulls every AWS service moto mocks (cfn-lint and sympy, docker, aws-xray-sdk,
graphql, openapi validators: 60 packages against 27, see BENCHMARKS.md, "Install size of the
demo"). The tests run in the dev environment, where those packages may be installed anyway, so
the demo is started here in a child process that refuses to import them: if the demo's S3
server ever needs one, this fails instead of a user's fresh ``pip install 's3explore[demo]'``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _demo_requirements() -> list[Requirement]:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    return [Requirement(text) for text in extras["demo"]]


def _moto_extra(extra: str) -> set[str]:
    """Distributions moto's ``extra`` adds, by moto's installed metadata."""
    names = set()
    for text in requires("moto") or []:
        requirement = Requirement(text)
        if requirement.marker is not None and requirement.marker.evaluate({"extra": extra}):
            names.add(_canonical(requirement.name))
    return names


def _server_only_modules() -> list[str]:
    """Top-level modules of what moto[server] adds beyond the demo extra, where installed."""
    demo = _demo_requirements()
    allowed = {_canonical(r.name) for r in demo}
    for requirement in demo:
        if _canonical(requirement.name) == "moto":
            for extra in requirement.extras:
                allowed |= _moto_extra(extra)
    server_only = _moto_extra("server") - allowed
    assert server_only, "moto's metadata names no server extra; is moto installed?"
    return sorted(module for module, dists in packages_distributions().items()
                  if server_only & {_canonical(d) for d in dists})


def test_the_demo_extra_names_moto_s3_and_flask_not_moto_server() -> None:
    demo = _demo_requirements()
    moto = [r for r in demo if _canonical(r.name) == "moto"]
    assert len(moto) == 1, f"the demo extra should name moto once: {[str(r) for r in demo]}"
    assert moto[0].extras == {"s3"}, (
        f"the demo extra asks for moto{sorted(moto[0].extras)}; moto[server] and moto[all] pull "
        "every AWS service moto mocks, the demo needs moto[s3] with flask and flask-cors")
    assert {"flask", "flask-cors"} <= {_canonical(r.name) for r in demo}


def test_the_demo_store_runs_without_what_only_moto_server_installs(tmp_path: Path) -> None:
    blocked = _server_only_modules()
    # sitecustomize runs in every Python started with this PYTHONPATH: the child below and the
    # demo's server process it starts. Each notes its pid, so the test knows both refused.
    refusals = tmp_path / "refusals"
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import importlib.abc, os, sys

        BLOCKED = set({blocked!r})

        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"{{name}} is not in the demo extra", name=name)
                return None

        sys.meta_path.insert(0, Refuse())
        with open({str(refusals)!r}, "a") as log:
            log.write(f"{{os.getpid()}}\\n")
    """))
    script = textwrap.dedent(f"""
        for module in {blocked!r}:  # the refusal works, or this test proves nothing
            try:
                __import__(module)
            except ModuleNotFoundError:
                pass
            else:
                raise SystemExit(f"{{module}} imported despite the refusal")

        from s3explore.demo import demo_server_pid, demo_store
        from s3explore.local_s3 import LocalS3

        with LocalS3() as server:  # the in-process server the tests use
            bucket = server.create_bucket("demo-install")
            server.put_many(bucket, [("a", b"body", {{"k": "v"}})])
            assert server.client().get_object(Bucket=bucket, Key="a")["Body"].read() == b"body"
        with demo_store(n=20) as store:  # the demo's server, in a process of its own
            assert store.count() == 20, store.count()
            assert store.query_one({{}})["formula"]
            print("server", demo_server_pid())
        print("ok")
    """)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=240, env=environment)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (
        f"the demo failed with moto[server]'s own packages refused ({', '.join(blocked)}):\n"
        f"{result.stdout}\n{result.stderr}")
    server_pid = result.stdout.split("server ", 1)[1].split()[0]
    assert server_pid in refusals.read_text().split(), "the demo's server ran without the refusal"
