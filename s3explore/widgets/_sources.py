"""What an upload reads: dicts from a list or iterable, DataFrame rows, or a folder of files."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from s3explore import _codec as codec
from s3explore._errors import ConfigurationError, CorruptObjectError
from s3explore._stores import Failure
from s3explore.widgets._format import is_missing

FILE_SUFFIXES = (".json.gz", ".json", ".msgpack")
ROWS_PER_CHUNK = 1000

OnUnreadable = Callable[[Failure], None]


class _Sized:
    """An iterable with a known length, so ``update`` can report a total."""

    def __init__(self, items: Callable[[], Iterator], length: int) -> None:
        self._items = items
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator:
        return self._items()


@dataclass
class DocumentSource:
    """Documents to upload. ``total`` is None when unknown before reading; ``reusable`` is
    False for a one-shot iterator (it can be uploaded once)."""

    description: str
    total: int | None
    reusable: bool
    _open: Callable[[OnUnreadable], Iterable]

    def documents(self, on_unreadable: OnUnreadable) -> Iterable:
        """The documents; a file that cannot be read is passed to ``on_unreadable``."""
        return self._open(on_unreadable)


def document_source(source: Any, key: str) -> DocumentSource:
    """Accept a dict, a list or iterable of dicts, a DataFrame, or a folder path."""
    if isinstance(source, pd.DataFrame):
        return _frame_source(source, key)
    if isinstance(source, (str, os.PathLike)):
        return _folder_source(Path(source))
    if isinstance(source, Mapping):
        return DocumentSource("1 document", 1, True, lambda _: [source])
    if isinstance(source, (list, tuple)):
        return DocumentSource(f"{len(source)} documents", len(source), True, lambda _: source)
    if isinstance(source, Iterable) and not isinstance(source, (bytes, bytearray)):
        one_shot = iter(source) is source
        total = len(source) if hasattr(source, "__len__") else None
        text = f"{total} documents" if total is not None else "documents from an iterator"
        return DocumentSource(text, total, not one_shot, lambda _: source)
    raise ConfigurationError(
        f"source must be a list or iterable of dicts, a pandas DataFrame or a folder of "
        f".json/.json.gz/.msgpack files, not {type(source).__name__}"
    )


# ---------------------------------------------------------------- DataFrames


def _plain(value: Any) -> Any:
    """A DataFrame cell as a value msgpack stores naturally."""
    if isinstance(value, (np.ndarray, list, dict, tuple)):
        return value
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _frame_source(frame: pd.DataFrame, key: str) -> DocumentSource:
    if key not in frame.columns:
        if frame.index.name != key:
            raise ConfigurationError(
                f"the DataFrame has no column {key!r} (the store's key); columns: "
                f"{[str(c) for c in frame.columns][:12]}; add one or set it as the index"
            )
        frame = frame.reset_index()
    bad = [c for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise ConfigurationError(f"DataFrame column names must be strings to become document "
                                 f"fields; these are not: {bad[:8]}")

    def rows(_: OnUnreadable) -> _Sized:
        def generate() -> Iterator[dict]:
            for start in range(0, len(frame), ROWS_PER_CHUNK):
                for record in frame.iloc[start:start + ROWS_PER_CHUNK].to_dict("records"):
                    yield {name: _plain(value) for name, value in record.items()}
        return _Sized(generate, len(frame))

    return DocumentSource(f"{len(frame)} documents (DataFrame rows)", len(frame), True, rows)


# ---------------------------------------------------------------- folders


def _folder_source(folder: Path) -> DocumentSource:
    if not folder.exists():
        raise ConfigurationError(f"folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise ConfigurationError(f"{str(folder)!r} is not a folder; pass a folder of "
                                 ".json, .json.gz or .msgpack files, one document per file")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(FILE_SUFFIXES))
    if not files:
        raise ConfigurationError(f"folder {str(folder)!r} holds no .json, .json.gz or "
                                 ".msgpack files")

    def documents(on_unreadable: OnUnreadable) -> _Sized:
        def generate() -> Iterator[dict]:
            for path in files:
                try:
                    doc = read_document_file(path)
                except (OSError, ValueError, CorruptObjectError) as exc:
                    on_unreadable(Failure(path.name, str(exc), exc))
                    continue
                yield doc
        return _Sized(generate, len(files))

    return DocumentSource(f"{len(files)} files in {folder}", len(files), True, documents)


def read_document_file(path: Path) -> dict:
    """One document from a .json or .msgpack file, compressed or not (.json.gz, or any other
    registered codec's suffix); ValueError saying what is wrong."""
    data = path.read_bytes()
    name, compressed = codec.strip_compression_suffix(path.name)
    if compressed is not None:
        try:
            data = compressed.decompress(data)
        except compressed.errors as exc:
            raise ValueError(f"{path.name} is not a valid {compressed.name} file ({exc})") from exc
    if name.endswith(".msgpack"):
        return codec.unpack(data, key=path.name)
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name} is not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{path.name} holds a JSON {type(doc).__name__}, not an object; "
                         "put one document per file")
    return doc
