"""MongoDB connection settings kept safe: URIs checked and shown without credentials, query
time limits (``maxTimeMS``), client timeouts, which server answers, and its refusals (of a
login, of documents) as our errors."""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode

from s3explore._checks import whole_number
from s3explore._errors import (
    AccessDeniedError,
    ConfigurationError,
    CredentialsError,
    InvalidDocumentError,
    StoreConnectionError,
)
from s3explore._query import get_path
from s3explore._secrets import ambiguous_userinfo, redact_url, scrub, split_userinfo, url_secrets

DEFAULT_MAX_TIME_MS = 60_000  # API calls; the filter box asks for less (query_time_limit)
SERVER_SELECTION_MS = 5_000  # no server: fail after 5 s, not pymongo's 30
# A reply may take maxTimeMS and this much more before the socket gives up on a server that
# stopped answering (a hung machine keeps the connection open: no error would ever come).
SOCKET_MARGIN_MS = 15_000
# MongoDB's error codes (FerretDB answers the same ones)
UNAUTHORIZED, AUTHENTICATION_FAILED, DUPLICATE_KEY = 13, 18, 11000
_TIME_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "s3explore_query_time_limit", default=None)


@contextmanager
def query_time_limit(ms: int | None) -> Iterator[None]:
    """Within the block, MongoDB queries of every MongoStore stop after at most ``ms``
    milliseconds (the smaller of this and the store's ``max_time_ms``)."""
    token = _TIME_LIMIT.set(_check_ms(ms, "query_time_limit"))
    try:
        yield
    finally:
        _TIME_LIMIT.reset(token)


def _check_ms(ms: Any, name: str) -> int | None:
    return whole_number(ms, name, 1, none_ok=True, unit="milliseconds")


_SCHEMES = ("mongodb://", "mongodb+srv://")
_ENCODE_HINT = ("percent-encode the user name and password in the URI "
                "(urllib.parse.quote_plus(password)), or pass username= and password=")


def _check_uri(uri: Any) -> None:
    """A MongoDB URI whose credentials a parser reads the same way we hide them."""
    if not isinstance(uri, str) or not uri.startswith(_SCHEMES):
        shown = redact_url(uri) if isinstance(uri, str) else type(uri).__name__
        raise ConfigurationError(f"uri must start with mongodb:// or mongodb+srv://, got "
                                 f"{shown!r:.80}")
    if ambiguous_userinfo(uri):
        raise ConfigurationError(
            f"the MongoDB URI {redact_url(uri)!r} has an '@' after its host part, so its "
            "credentials hold an unescaped '/', '?' or '#' (or an option value holds an "
            f"'@'); {_ENCODE_HINT}")


def _hosts(uri: str) -> str:
    """The host list of a checked URI: ``h1:27017,h2``."""
    rest = split_userinfo(uri)[2]
    return rest.split("/", 1)[0].split("?", 1)[0]


def _path_database(uri: str) -> str:
    rest = split_userinfo(uri)[2]
    return unquote_plus(rest.partition("/")[2].partition("?")[0])


def _invalid_uri(uri: str, exc: BaseException, secrets: list[str] | None = None,
                 ) -> ConfigurationError:
    # pymongo's reason is scrubbed of the URI's credentials in case it quotes one of them,
    # and the URI is shown redacted. Not every pymongo names the option at fault, so the
    # options pymongo refuses on their own are named here (names only: values may be
    # secrets).
    reason = scrub(str(exc), [*(secrets or []), *url_secrets(uri)])
    refused = _refused_options(uri)
    named = f" (refused: {', '.join(refused)})" if refused else ""
    return ConfigurationError(f"the MongoDB URI {redact_url(uri)!r} or its options are "
                              f"invalid: {reason}{named}")


def _refused_options(uri: str) -> list[str]:
    """The names of the URI's query options that pymongo's parser refuses one at a time."""
    import pymongo.uri_parser

    refused = []
    for name, value in parse_qsl(uri.partition("?")[2], keep_blank_values=True):
        try:
            pymongo.uri_parser.parse_uri(f"mongodb://localhost/?{urlencode({name: value})}")
        except Exception:  # a probe: any refusal names the option
            refused.append(name)
    return refused


def client_options(options: dict, uri: str | None, auth_source: str | None,
                   max_time_ms: int | None) -> dict:
    """``pymongo.MongoClient`` options: the user's, and bounded timeouts unless the user
    (or the URI) set them: ``serverSelectionTimeoutMS``, and ``socketTimeoutMS`` a margin
    over ``max_time_ms`` (at least the default's; none when queries may run without limit)."""
    kwargs = dict(options)
    if auth_source:
        kwargs.setdefault("authSource", auth_source)
    given = {k.lower() for k in kwargs} | {
        k.lower() for k, _ in parse_qsl((uri or "").partition("?")[2])}
    if "serverselectiontimeoutms" not in given:
        kwargs["serverSelectionTimeoutMS"] = SERVER_SELECTION_MS
    if max_time_ms and not given & {"sockettimeoutms", "timeoutms"}:  # writes take as long
        kwargs["socketTimeoutMS"] = max(max_time_ms, DEFAULT_MAX_TIME_MS) + SOCKET_MARGIN_MS
    return kwargs


def refusal(name: str, exc: BaseException) -> Exception | None:
    """A login or permission the server refused, as our error naming the store (never the
    credentials); None for any other error."""
    code = getattr(exc, "code", None)
    if code == AUTHENTICATION_FAILED:
        return CredentialsError(f"MongoDB at {name} refused the login (code {code}, "
                                "AuthenticationFailed); check username and password")
    if code == UNAUTHORIZED:
        return AccessDeniedError(f"MongoDB at {name} refused the command (code {code}, "
                                 "Unauthorized): give the credentials (username and password, "
                                 "or in the URI), or a role that allows it")
    return None


def server_info(client: Any) -> str | None:
    """FerretDB's version when the server is FerretDB, else None (MongoDB)."""
    return client.admin.command("buildInfo").get("ferretdbVersion")


def _pymongo_errors(*names: str) -> tuple[type[BaseException], ...]:
    """pymongo's exception classes of these names; none when pymongo is not imported."""
    perr = sys.modules.get("pymongo.errors")
    return () if perr is None else tuple(getattr(perr, n) for n in names)


def write_failure(name: str, exc: BaseException, docs: list[dict], key: str,
                  secrets: list[str]) -> Exception:
    """Why a write of ``docs`` to the index failed, as our error: the documents a bulk write
    refused (by key, with the server's reason), a refused login, or the connection lost."""
    perr = sys.modules.get("pymongo.errors")  # not loaded: the error is the engine's own
    errors = (exc.details or {}).get("writeErrors") if perr is not None and isinstance(
        exc, perr.BulkWriteError) else None
    if errors:
        named = []
        for error in errors:
            at = error.get("index")
            doc = docs[at] if isinstance(at, int) and 0 <= at < len(docs) else {}
            named.append((get_path(doc, key), write_reason(error)))
        return refused_error(name, named, len(docs), secrets)
    refused = refusal(name, exc) if perr is not None and isinstance(
        exc, perr.OperationFailure) else None
    return refused or StoreConnectionError(
        f"writing {len(docs)} documents to the index {name} failed: {type(exc).__name__}; "
        "nothing was lost from S3, rerun the update")


def refused_error(name: str, refused: list[tuple[Any, str]], total: int,
                  secrets: list[str]) -> InvalidDocumentError:
    """``refused`` documents (key value, reason) of a write of ``total``, named."""
    shown = ", ".join(f"{value!r} ({why})" for value, why in refused[:10])
    more = f" and {len(refused) - 10} more" if len(refused) > 10 else ""
    return InvalidDocumentError(f"the index {name} refused {len(refused)} of {total} "
                                f"documents: {scrub(shown, secrets)}{more}; the others were "
                                "written", key=refused[0][0])


def write_reason(error: dict) -> str:
    """Why the server refused one document (a duplicate key by its index's fields and values
    when the server says them: MongoDB does, FerretDB does not)."""
    if error.get("code") == DUPLICATE_KEY:
        value = error.get("keyValue")
        return f"duplicate key {dict(value)!r}" if value else "duplicate key in a unique index"
    code = f"code {error['code']}: " if "code" in error else ""
    return f"{code}{error.get('errmsg', '')}"[:300]
