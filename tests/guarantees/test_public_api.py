"""The exported names are a contract; importing s3explore stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import s3explore

EXPECTED = {
    "AccessDeniedError", "BucketNotFoundError", "Callback", "CancelledBuildError",
    "ConfigurationError", "CorruptObjectError", "CostEstimate", "CountEstimate",
    "CredentialsError", "DuckDBStore", "Failure", "InvalidDocumentError", "InvalidDocumentsError",
    "InvalidKeyError", "LayoutNotRecognizedError", "ManifestStore",
    "MemoryStore", "MetadataTooLargeError", "MissingDependencyError", "MongograntStore",
    "MongoStore", "MontyStore", "NotConnectedError", "ObjectNotFoundError", "ProgressCounter",
    "ProgressSnapshot", "QueryError", "ReadOnlyStoreError", "S3ExploreError", "S3RequestError",
    "S3Store", "StaleObjectError", "Store", "StoreConnectionError", "StoredObject", "TqdmCallback",
    "TransientS3Error", "UnknownFieldWarning", "UpdateError", "UpdateResult", "VerifyReport",
    "__version__", "open",
}


def test_exported_names_are_exactly_the_contract():
    assert set(s3explore.__all__) == EXPECTED
    for name in s3explore.__all__:
        assert hasattr(s3explore, name), name


def test_every_error_derives_from_the_base():
    errors = [getattr(s3explore, n) for n in EXPECTED if n.endswith("Error")]
    assert all(issubclass(e, s3explore.S3ExploreError) for e in errors)


def test_warnings_are_user_warnings():
    warnings = [getattr(s3explore, n) for n in EXPECTED if n.endswith("Warning")]
    assert warnings and all(issubclass(w, UserWarning) for w in warnings)


# Loaded on first use, not by `import s3explore`: the MongoDB and S3 clients (imported when a
# MongoStore connects or an S3 client is built) take most of the import time otherwise.
HEAVY = ("ipywidgets", "pandas", "pyarrow", "moto", "duckdb", "dask", "pymongo", "bson",
         "boto3", "botocore", "s3transfer")


def run_fresh(code: str) -> str:
    """``code``'s output in a fresh interpreter, where nothing is imported yet."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_import_stays_light():
    code = (f"import sys, s3explore; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    assert run_fresh(code) == "[]"


def test_the_light_import_check_sees_a_heavy_module():
    code = (f"import sys, s3explore, botocore.exceptions; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    assert run_fresh(code) == "['botocore']"


def test_errors_of_clients_imported_after_s3explore_are_still_ours():
    # s3explore is imported before botocore and pymongo, as in a fresh notebook: their
    # exceptions, once they exist, are recognised and translated as before.
    code = """if True:
        import s3explore
        from s3explore._s3client import is_transient, translate
        from s3explore._stores._mongo import MongoLikeStore
        print(type(translate(ValueError('x'), bucket='b')).__name__)
        from botocore.exceptions import ClientError, ReadTimeoutError
        denied = ClientError({'Error': {'Code': 'AccessDenied'}}, 'GetObject')
        print(type(translate(denied, bucket='b', key='k')).__name__)
        print(is_transient(ReadTimeoutError(endpoint_url='http://x')))
        import pymongo.errors
        store = s3explore.MemoryStore()
        timeout = pymongo.errors.ExecutionTimeout('operation exceeded time limit', 50)
        print(type(store._translate(timeout)).__name__, 'stopped the query' in
              str(store._translate(timeout)))
        try:
            store._guarded(lambda: (_ for _ in ()).throw(pymongo.errors.OperationFailure('no')))
        except s3explore.QueryError as exc:
            print(type(exc).__name__, type(exc.__cause__).__name__)
    """
    assert run_fresh(code).split("\n") == [
        "S3RequestError", "AccessDeniedError", "True", "QueryError True",
        "QueryError OperationFailure"]


# Layers, bottom to top; a module may import its own layer and the ones below.
LAYERS = [{"_errors", "_checks", "_codec", "_query", "_secrets"}, {"_s3client", "_s3engine"},
          {"_transfer"}, {"_stores"}, {"_frames"}, {"widgets"}]
# Beside the top: they may use every layer.
APPLICATIONS = {"__init__", "demo", "local_s3", "_cli", "open"}
# The one sanctioned upward reference: Store's DataFrame entry points call the frames layer
# on first use (lazily, so importing s3explore does not load pandas).
UPWARD_ALLOWED = {("_stores", "_frames")}


def layer_of(module: str) -> int | None:
    """``s3explore._stores._s3`` -> 3; None for modules beside the top."""
    parts = module.split(".")
    if parts[0] != "s3explore" or len(parts) == 1:  # `from s3explore import x`: x decides
        return None
    for position, names in enumerate(LAYERS):
        if parts[1] in names:
            return position
    assert parts[1] in APPLICATIONS or parts[1].startswith("_version"), f"unknown layer: {module}"
    return len(LAYERS)


def imported_modules(path: Path, module: str) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                package = module.split(".")[: -node.level or None]
                if path.name == "__init__.py":
                    package = module.split(".")[: len(module.split(".")) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            found.append((base, node.lineno))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def test_layers_import_only_downwards():
    root = Path(s3explore.__file__).parent
    problems = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        own = layer_of(module)
        if own is None or own == len(LAYERS):
            continue
        for target, line in imported_modules(path, module):
            theirs = layer_of(target)
            if theirs is None or theirs <= own:
                continue
            pair = (module.split(".")[1], target.split(".")[1])
            if pair not in UPWARD_ALLOWED:
                problems.append(f"{relative}.py:{line} imports {target}")
    assert problems == []


def test_the_layer_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "s3explore" / "_codec" / "_bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f():\n    from s3explore.widgets import IndexBrowser\n")
    assert ("s3explore.widgets.IndexBrowser", 2) in imported_modules(bad, "s3explore._codec._bad")
    assert layer_of("s3explore.widgets.IndexBrowser") > layer_of("s3explore._codec._bad")
