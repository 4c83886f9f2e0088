"""Starting JupyterLab and Voila for ``s3explore demo`` and ``s3explore open``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

# JupyterLab's news pop-up ("Would you like to get notified about official Jupyter news?")
# opens over the widgets in every new session; the servers these commands start leave it out.
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"
SETTINGS_FILES = ("page_config.json", "overrides.json")


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lab_settings_dir(folder: Path) -> Path:
    """JupyterLab's app settings for one launch: the installed ones, the announcements
    extension disabled. Nothing outside ``folder`` changes (``jupyter labextension disable``
    would change every later session of this environment)."""
    folder.mkdir(parents=True, exist_ok=True)
    installed = _installed_settings_dir()
    for name in SETTINGS_FILES:
        if installed is not None and (installed / name).is_file():
            (folder / name).write_bytes((installed / name).read_bytes())
    page_config_path = folder / "page_config.json"
    page_config: dict[str, Any] = {}
    if page_config_path.is_file():
        try:
            page_config = json.loads(page_config_path.read_text())
        except ValueError:
            page_config = {}  # unreadable installed settings: JupyterLab ignores them too
    disabled = page_config.get("disabledExtensions", {})
    if isinstance(disabled, list):
        disabled = {name: True for name in disabled}
    page_config["disabledExtensions"] = {**disabled, ANNOUNCEMENTS: True}
    page_config_path.write_text(json.dumps(page_config, indent=1) + "\n")
    return folder


def _installed_settings_dir() -> Path | None:
    try:
        from jupyterlab.commands import get_app_dir
    except ImportError:
        return None
    return Path(get_app_dir()) / "settings"


def jupyterlab_command(notebook: Path, root_dir: Path, port: int) -> list[str]:
    """JupyterLab on ``notebook``: without the news pop-up, and as root when run as root
    (containers often are, and JupyterLab refuses root unless told)."""
    settings = lab_settings_dir(root_dir / ".jupyterlab-settings")
    command = [sys.executable, "-m", "jupyterlab", str(notebook),
               f"--ServerApp.root_dir={root_dir}", f"--port={port}",
               f"--LabApp.app_settings_dir={settings}"]
    if running_as_root():
        print("running as root: passing --allow-root to JupyterLab")
        command.append("--allow-root")
    return command


# Voila's lab template links Font Awesome from a CDN, which fails offline and delays the page;
# its own bundle already carries Font Awesome, so this template drops the two links.
VOILA_TEMPLATE = "s3explore"
_FONT_AWESOME_CDN = "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@^5/css/"
# Voila's lab template leaves markdown code blocks without JupyterLab's box and margins, so
# consecutive blocks and the text after them run together; this puts the box back.
MARKDOWN_CODE_CSS = """
.jp-RenderedMarkdown pre {
  background: var(--jp-layout-color2, #f6f8fa);
  border: 1px solid var(--jp-border-color2, #d0d7de); border-radius: 6px;
  padding: 8px 12px; margin: 0.4em 0 1em 0; overflow-x: auto; line-height: 1.45;
}
.jp-RenderedMarkdown pre code { background: none; padding: 0; }
"""
_VOILA_INDEX = (
    "{%- extends 'voila/templates/lab/index.html.j2' -%}\n"
    "{%- block notebook_css -%}\n"
    "{{ super()"
    + "".join(f" | replace('<link rel=\"stylesheet\" href=\"{_FONT_AWESOME_CDN}{name}\" "
              "type=\"text/css\" />', '')" for name in ("all.min.css", "v4-shims.min.css"))
    + " }}\n<style>" + MARKDOWN_CODE_CSS + "</style>\n{%- endblock notebook_css -%}\n")


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
