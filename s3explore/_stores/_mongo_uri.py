"""MongoDB connection settings kept safe: URIs checked and shown without credentials, and
query time limits (``maxTimeMS``)."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode

from s3explore._errors import ConfigurationError
from s3explore._secrets import ambiguous_userinfo, redact_url, scrub, split_userinfo, url_secrets

DEFAULT_MAX_TIME_MS = 60_000  # API calls; the filter box asks for less (query_time_limit)
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
    if ms is not None and (isinstance(ms, bool) or not isinstance(ms, int) or ms < 1):
        raise ConfigurationError(f"{name} must be a whole number of milliseconds >= 1 or None, "
                                 f"got {ms!r:.40}")
    return ms


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
