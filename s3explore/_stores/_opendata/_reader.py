"""Reading documents for manifest entries: one GET per object, whatever it holds.

Entries are served in batches: the batch's entries are grouped by the object that holds
them, each object is fetched once (in parallel, through the transfer engine) and every
document of the batch that lives in it is cut out of that one body. Objects also stay in a
byte-bounded LRU cache, so the next batch (or the next page) that needs the same group pays
no GET at all; a group larger than the whole cache is used for its batch and not kept.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from s3explore import _codec as codec
from s3explore._errors import (
    CorruptObjectError,
    InvalidKeyError,
    ObjectNotFoundError,
    StaleObjectError,
)
from s3explore._s3engine import ObjectInfo
from s3explore._stores._objects import ObjectIO
from s3explore._stores._opendata import _json
from s3explore._stores._opendata._manifest import Layout
from s3explore._transfer import Outcome, ordered_map

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
BAD_LINES = object()  # in Body.payloads: the lines of a grouped object that cannot be read


def read_object(objects: ObjectIO, name: str) -> tuple[bytes, ObjectInfo]:
    """The whole body of object ``name`` and what the GET said of it (its ETag above all);
    a body larger than ``max_decoded_bytes`` is refused before it is read."""
    return objects.read_whole(name)


@dataclass
class Body:
    """One fetched object cut into per-document payloads keyed by ``str(key value)``."""

    name: str
    payloads: dict[Any, Any]  # JSON text of one document, or a msgpack body; BAD_LINES
    stored_size: int
    decoded_size: int
    compression: str | None
    seconds: float
    etag: str | None = None  # as the GET answered, without quotes


@dataclass
class ReadStats:
    """What the reads cost: GETs sent, bytes received, documents served, cache hits."""

    gets: int = 0
    bytes: int = 0
    documents: int = 0
    cache_hits: int = 0


def _key_text(value: Any) -> str:
    if isinstance(value, dict):
        value = _json.object_hook(value)
    return str(value)


class DocumentReader:
    """Fetches and decodes the documents of manifest entries for one store."""

    def __init__(self, objects: ObjectIO, layout: Layout,
                 cache_bytes: int = DEFAULT_CACHE_BYTES,
                 reopen_hint: str = "reopen the prefix with s3explore.open()") -> None:
        self.objects = objects
        self.reopen_hint = reopen_hint
        self.ensure_connected: Any = None  # called before fetching (offline stores connect)
        self.layout = layout
        self.cache_bytes = cache_bytes
        self.stats = ReadStats()
        self._cache: OrderedDict[str, Body] = OrderedDict()
        self._cached = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------ cache

    def _lookup(self, name: str) -> Body | None:
        with self._lock:
            body = self._cache.get(name)
            if body is not None:
                self._cache.move_to_end(name)
            return body

    def _keep(self, body: Body) -> None:
        if body.decoded_size > self.cache_bytes:
            return  # larger than the whole budget: serves its batch only
        with self._lock:
            if body.name in self._cache:
                return
            self._cache[body.name] = body
            self._cached += body.decoded_size
            while self._cached > self.cache_bytes:
                _, old = self._cache.popitem(last=False)
                self._cached -= old.decoded_size

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._cached = 0

    # ------------------------------------------------------------ fetching

    def fetch(self, name: str, entry: Mapping) -> Body:
        """GET one object and cut it into payloads (runs in worker threads)."""
        start = time.perf_counter()
        raw, info = read_object(self.objects, name)
        kind = self.layout.kind
        if kind == "s3store":
            compression = entry.get("compression") or None
            payloads = {_key_text(entry[self.layout.key]): raw}
            decoded = len(raw)
        else:
            plain = _json.plain(raw, name, self.objects.max_decoded_bytes)
            _, by_suffix = codec.strip_compression_suffix(name)
            compression = by_suffix.name if by_suffix else codec.sniff_compression(raw)
            decoded = len(plain)
            if kind == "json-objects":
                payloads = {_key_text(entry[self.layout.key]): plain}
            else:
                payloads = self._lines(plain, name)
        with self._lock:
            self.stats.gets += 1
            self.stats.bytes += len(raw)
        return Body(name, payloads, len(raw), decoded, compression,
                    time.perf_counter() - start, codec.bare_etag(info.etag))

    def _lines(self, plain: bytes, name: str) -> dict[str, Any]:
        """Lines by key. A line that cannot be read costs its own document only: it is
        noted under BAD_LINES, and asking for a key the object lacks then says why."""
        key = self.layout.key
        out: dict[str, Any] = {}
        bad: list[str] = []
        for number, line in enumerate(plain.splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line).get(key)  # the key only; the rest on demand
            except RecursionError:
                bad.append(f"line {number} is {_json.TooDeep()}")
                continue
            except (ValueError, AttributeError):
                bad.append(f"line {number} is not a JSON document")
                continue
            if value is not None:
                try:
                    out.setdefault(_key_text(value), line)
                except (RecursionError, TypeError, ValueError):
                    bad.append(f"line {number} has a key that is not a value")
        if bad:
            out[BAD_LINES] = bad
        return out

    def decode(self, body: Body, entry: Mapping, last_updated: bool = False) -> dict:
        """The document of ``entry`` out of ``body``; ObjectNotFoundError when it is not there.

        ``last_updated``: an S3Store object gets its entry's ``last_updated`` (which lives
        only in the index), as ``S3Store.query`` gives it."""
        key_value = entry[self.layout.key]
        indexed = entry.get(codec.ETAG_FIELD)
        if isinstance(indexed, str) and body.etag is not None and indexed != body.etag:
            raise StaleObjectError(
                f"{body.name!r} in {self.objects.name} changed since the manifest indexed "
                f"{self.layout.key} = {key_value!r} (ETag {indexed!r} then, {body.etag!r} "
                f"now), so its body may no longer match its entry and is not served; "
                f"{self.reopen_hint} to index what the bucket holds now", key=str(key_value))
        payload = body.payloads.get(_key_text(key_value))
        if payload is None and BAD_LINES in body.payloads:
            bad = body.payloads[BAD_LINES]
            raise CorruptObjectError(
                f"{body.name!r} in {self.objects.name} holds no readable document with "
                f"{self.layout.key} = {key_value!r}: {len(bad)} of its lines cannot be read "
                f"({'; '.join(bad[:3])}); the other documents of the object are served",
                key=str(key_value))
        if payload is None:
            raise ObjectNotFoundError(
                f"{body.name!r} in {self.objects.name} holds no document with "
                f"{self.layout.key} = {key_value!r}, although the manifest lists it there; "
                "the manifest is out of date (verify() lists the differences)",
                key=str(key_value))
        if self.layout.kind == "s3store":
            key = codec.key_string(key_value, self.layout.key)
            doc = codec.decode_body(payload, entry.get("compression"), key,
                                    max_bytes=self.objects.max_decoded_bytes)
            if last_updated and codec.LAST_UPDATED in entry:
                doc[codec.LAST_UPDATED] = entry[codec.LAST_UPDATED]
            return doc
        if self.layout.kind == "json-objects":
            return _json.parse_document(payload, body.name)
        return _json.parse_document(payload, f"{body.name} ({self.layout.key} {key_value!r})")

    # ------------------------------------------------------------ batches

    def bodies(self, entries: list[Mapping], workers: int) -> dict[str, Body | BaseException]:
        """One body (or the error fetching it) per distinct object of ``entries``."""
        first: dict[str, Mapping] = {}
        out: dict[str, Body | BaseException] = {}
        for entry in entries:
            try:
                name = self.layout.object_name(entry)
            except Exception:  # no key or grouping fields: outcomes() reports it
                continue
            if name in first or name in out:
                continue
            body = self._lookup(name)
            if body is not None:
                out[name] = body
                self.stats.cache_hits += 1
            else:
                first[name] = entry
        if first and self.ensure_connected is not None:
            try:
                self.ensure_connected()
            except Exception as exc:  # offline and the bucket unreachable: every object
                return {**out, **dict.fromkeys(first, exc)}
        if first:
            for outcome in ordered_map(lambda n: self.fetch(n, first[n]), list(first), workers):
                if outcome.error is None:
                    self._keep(outcome.value)
                    out[outcome.item] = outcome.value
                else:
                    out[outcome.item] = outcome.error
        return out

    def outcomes(self, entries: Iterable[Mapping], workers: int,
                 last_updated: bool = False) -> Iterator[Outcome]:
        """``Outcome(entry, doc | error)`` per entry, in order, batch by growing batch."""
        for batch in growing_batches(entries, 2 * workers, 512):
            bodies = self.bodies(batch, workers)
            for entry in batch:
                try:
                    try:
                        name = self.layout.object_name(entry)
                    except InvalidKeyError as exc:  # the manifest points outside the prefix
                        raise CorruptObjectError(
                            f"manifest entry {self.layout.key} = "
                            f"{entry.get(self.layout.key)!r:.80} names no object that can be "
                            f"read: {exc}; the manifest is not trustworthy",
                            key=str(entry.get(self.layout.key))) from None
                    body = bodies.get(name)
                    if isinstance(body, BaseException):
                        raise body
                    doc = self.decode(body, entry, last_updated)
                except Exception as exc:
                    yield Outcome(entry, error=exc)
                    continue
                self.stats.documents += 1
                yield Outcome(entry, value=doc)


def growing_batches(items: Iterable, first: int, largest: int) -> Iterator[list]:
    """Lists of ``items``: small at first (the first rows come fast), then doubling."""
    size, batch = max(first, 1), []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch, size = [], min(size * 2, largest)
    if batch:
        yield batch
