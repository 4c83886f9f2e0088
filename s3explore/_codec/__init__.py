"""Pure functions for the maggma S3Store format: bodies, compression, keys, index documents.

Nothing here does I/O. The format is maggma 0.77.1's: msgpack bodies whose non-msgpack values
are monty-style tagged dicts, optional zlib, index documents with sanitised copies in the
object metadata. Compression codecs live in one registry (``CODECS``, ``register_codec``).
Callers use ``from s3explore import _codec as codec``; the submodules are details.
"""

from __future__ import annotations

from typing import Any

from s3explore._codec._body import (
    LAST_UPDATED,
    check_map_keys,
    content_hash,
    decode_body,
    encode_body,
    pack,
    unpack,
)
from s3explore._codec._compression import (
    CODECS,
    DEFAULT_COMPRESSION,
    DEFAULT_MAX_DECODED_BYTES,
    MAX_DECODED_ENV,
    Codec,
    DecodedTooLarge,
    compress_bytes,
    decompress_bytes,
    get_codec,
    max_decoded_bytes,
    normalize_compression,
    register_codec,
    sniff_compression,
    store_compressions,
    strip_compression_suffix,
    too_large,
    unregister_codec,
)
from s3explore._codec._digest import (
    DIGEST_FIELDS,
    DIGEST_METADATA_BYTES,
    DIGEST_NAMES,
    ETAG_FIELD,
    BodyDigest,
    bare_etag,
    claimed_hash,
    described_hash,
)
from s3explore._codec._keys import (
    INDEX_INT_MAX,
    INDEX_INT_MIN,
    MAX_KEY_BYTES,
    doc_key,
    key_aliases,
    key_string,
    normalize_sub_dir,
    object_key,
)
from s3explore._codec._metadata import (
    AWS_METADATA_LIMIT,
    KEYS_FIELD,
    check_metadata,
    decode_metadata,
    decode_metadata_value,
    digest_fits,
    encode_metadata_value,
    entry_from_metadata,
    index_document,
    metadata_document,
    metadata_size,
    sanitize_name,
)
from s3explore._codec._objects import (
    allowed_module,
    check_decode_objects,
    rebuild_objects,
)
from s3explore._codec._stream import (
    CountingReader,
    PrefixedReader,
    decode_stream,
    encode_chunks,
    iter_pack,
)

__all__ = [
    "AWS_METADATA_LIMIT",
    "CODECS",
    "DEFAULT_COMPRESSION",
    "DEFAULT_MAX_DECODED_BYTES",
    "DIGEST_FIELDS",
    "DIGEST_METADATA_BYTES",
    "DIGEST_NAMES",
    "ETAG_FIELD",
    "INDEX_INT_MAX",
    "INDEX_INT_MIN",
    "KEYS_FIELD",
    "LAST_UPDATED",
    "MAX_DECODED_ENV",
    "MAX_KEY_BYTES",
    "BodyDigest",
    "Codec",
    "CountingReader",
    "DecodedTooLarge",
    "PrefixedReader",
    "allowed_module",
    "bare_etag",
    "check_decode_objects",
    "check_map_keys",
    "check_metadata",
    "claimed_hash",
    "compress_bytes",
    "content_hash",
    "decode_body",
    "decode_metadata",
    "decode_metadata_value",
    "decode_stream",
    "decompress_bytes",
    "described_hash",
    "digest_fits",
    "doc_key",
    "encode_body",
    "encode_chunks",
    "encode_metadata_value",
    "entry_from_metadata",
    "get_codec",
    "index_document",
    "iter_pack",
    "key_aliases",
    "key_string",
    "max_decoded_bytes",
    "metadata_document",
    "metadata_size",
    "normalize_compression",
    "normalize_sub_dir",
    "object_key",
    "pack",
    "rebuild_objects",
    "register_codec",
    "sanitize_name",
    "sniff_compression",
    "store_compressions",
    "strip_compression_suffix",
    "too_large",
    "unpack",
    "unregister_codec",
]


def __getattr__(name: str) -> Any:
    # COMPRESSIONS was a constant; it now follows the registry.
    if name == "COMPRESSIONS":
        return store_compressions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
