"""The exported names are a contract; importing s3explore stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import s3explore

EXPECTED = {
    "AccessDeniedError", "BucketNotFoundError", "Callback", "ConfigurationError",
    "CorruptObjectError", "CredentialsError", "Failure", "InvalidDocumentError",
    "InvalidKeyError", "MemoryStore", "MetadataTooLargeError", "MissingDependencyError",
    "MongoStore", "MongograntStore", "MontyStore", "NotConnectedError", "ObjectNotFoundError",
    "ProgressCounter", "ProgressSnapshot", "QueryError", "S3ExploreError", "S3RequestError",
    "S3Store", "Store", "StoredObject", "StoreConnectionError", "TqdmCallback",
    "TransientS3Error", "UpdateResult", "VerifyReport", "__version__",
}


def test_exported_names_are_exactly_the_contract():
    assert set(s3explore.__all__) == EXPECTED
    for name in s3explore.__all__:
        assert hasattr(s3explore, name), name


def test_every_error_derives_from_the_base():
    errors = [getattr(s3explore, n) for n in EXPECTED if n.endswith("Error")]
    assert all(issubclass(e, s3explore.S3ExploreError) for e in errors)


def test_import_does_not_pull_in_ipywidgets_or_pandas_widgets():
    code = "import sys, s3explore; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_layers_import_only_downwards():
    root = Path(s3explore.__file__).parent
    order = ["_errors", "_codec", "_s3client", "_transfer", "_stores", "_frames", "_api",
             "widgets"]
    for position, layer in enumerate(order):
        single = root / f"{layer}.py"
        paths = [single] if single.exists() else sorted((root / layer).rglob("*.py"))
        for path in paths:
            source = path.read_text()
            for upper in order[position + 1:]:
                assert f"s3explore.{upper}" not in source, f"{path.name} imports {upper}"
