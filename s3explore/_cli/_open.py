"""``s3explore open``: the notebook that browses a bucket prefix, and ``--check``."""

from __future__ import annotations

import argparse
from typing import Any

# The kernel the notebook names, so JupyterLab starts it at once instead of asking: ipykernel's
# python3, which the server (this interpreter) runs with its own Python.
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def open_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``s3explore.open`` the command line gave."""
    options: dict[str, Any] = {"anonymous": True} if args.anonymous else {}
    if getattr(args, "offline", False):
        options["offline"] = True
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
    metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return nbformat.v4.new_notebook(cells=cells, metadata=metadata)


def notebook_name(url: str) -> str:
    """``open-bucket-prefix.ipynb`` for ``s3://bucket/prefix``."""
    name = "open-" + "".join(c if c.isalnum() else "-" for c in url[5:]).strip("-")
    return f"{name[:80]}.ipynb"


def check(url: str, options: dict[str, Any]) -> None:
    """Open it, print what was found and the first rows."""
    import s3explore

    with s3explore.open(url, **options) as store:
        print(f"{store.name}: {store.found}")
        print(f"{store.count()} documents; first rows:")
        print(store.query_df(limit=5).to_string())
