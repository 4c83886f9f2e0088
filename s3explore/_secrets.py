"""Credentials kept out of everything a person sees: URLs, options, messages and logs.

Pure. A URL's credentials are found with the same split the libraries use (the scheme, then
everything up to the *last* ``@`` before the host), not with a pattern that stops at the
first reserved character: a password such as ``EpPa55/w0rd+05`` (AWS secret keys hold ``/``,
``+`` and ``=``) typed into a URL without percent-encoding is still hidden whole.

``urllib.parse.urlsplit`` ends the host part at the first ``/``, ``?`` or ``#``; when an
``@`` comes after that point the URL is *ambiguous*: either the credentials hold an
unescaped ``/``, ``?`` or ``#``, or the path holds an ``@``. Messages then hide the larger
part (never too little), and callers that need the host refuse the URL (MongoDB) or drop
what precedes the last ``@`` (S3 endpoints, whose paths never hold one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

REDACTED = "***"
# Option names whose values are secrets, compared lower-cased, as substrings: boto3's
# aws_secret_access_key / aws_session_token, pymongo's password,
# tlsCertificateKeyFilePassword and authMechanismProperties (AWS_SESSION_TOKEN:...), ...
SECRET_WORDS = ("password", "passwd", "secret", "token", "credential", "access_key",
                "passphrase", "private", "authmechanismproperties", "kms", "api_key", "apikey")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_DELIMITERS = "/?#@:"
_MIN_FRAGMENT = 4  # fragments of a secret this long or longer are scrubbed too


def split_userinfo(url: str) -> tuple[str, str | None, str]:
    """``(scheme://, credentials or None, rest)``; ``head + rest`` is the URL without them.

    Without a scheme (``user:pw@host:27017``) the head is empty.
    """
    head, sep, rest = url.partition("://")
    if not sep or not head or not head[0].isalpha() or not set(head) <= _SCHEME_CHARS:
        head, rest = "", url
    else:
        head += sep
    if "@" not in rest:
        return head, None, rest
    userinfo, _, after = rest.rpartition("@")
    return head, userinfo, after


def ambiguous_userinfo(url: str) -> bool:
    """True when an ``@`` lies beyond the host part a standard URL parser sees.

    That happens when credentials hold an unescaped ``/``, ``?`` or ``#`` (they must be
    percent-encoded: ``urllib.parse.quote_plus(password)``), or an ``@`` sits in the path.
    """
    head, userinfo, _ = split_userinfo(url)
    if userinfo is None:
        return False
    try:
        netloc = urlsplit(url if head else f"//{url}").netloc
    except ValueError:  # urlsplit refuses some malformed hosts (e.g. unbalanced "[")
        return True
    return netloc.rpartition("@")[0] != userinfo


def redact_url(url: str | None) -> str | None:
    """The URL with ``user:password@`` shown as ``***@``, for messages and reprs."""
    if not url or not isinstance(url, str):
        return url
    head, userinfo, rest = split_userinfo(url)
    return url if userinfo is None else f"{head}{REDACTED}@{rest}"


def strip_userinfo(url: str | None) -> str | None:
    """The URL without ``user:password@``: S3 never uses it, and botocore would log it."""
    if not url or not isinstance(url, str):
        return url
    head, userinfo, rest = split_userinfo(url)
    return url if userinfo is None else head + rest


def url_secrets(url: Any) -> list[str]:
    """The credentials inside ``url`` (whole, and the password alone), for ``scrub``."""
    if not isinstance(url, str):
        return []
    userinfo = split_userinfo(url)[1]
    if not userinfo:
        return []
    password = userinfo.partition(":")[2]
    return [s for s in (userinfo, password) if s]


def is_secret_name(name: Any) -> bool:
    """Whether an option called ``name`` holds a secret (see ``SECRET_WORDS``)."""
    lowered = str(name).lower()
    return any(word in lowered for word in SECRET_WORDS)


def redact_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``options`` safe to show: secret-named entries as ``***``, URLs redacted,
    nested dicts and lists likewise."""
    return {k: REDACTED if is_secret_name(k) else _redact_value(v) for k, v in options.items()}


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_url(value) if "://" in value else value
    if isinstance(value, Mapping):
        return redact_options(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(v) for v in value)
    return value


def option_secrets(options: Any) -> list[str]:
    """Every secret string inside ``options``: values of secret-named entries and URL
    credentials, at any depth."""
    found: list[str] = []
    if isinstance(options, Mapping):
        for k, v in options.items():
            if is_secret_name(k):
                found += [str(x) for x in _leaves(v)]
            else:
                found += option_secrets(v)
    elif isinstance(options, (list, tuple)):
        for v in options:
            found += option_secrets(v)
    elif isinstance(options, str):
        found += url_secrets(options)
    return found


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    elif value is not None and value != "":
        yield value


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, in its raw, percent-encoded and percent-decoded forms, and
    each of its pieces between URL delimiters (4 characters or more), shown as ``***``.

    A defence in depth for messages that quote a library's reason (pymongo's parser quotes
    the part of a URI it could not read).
    """
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        for form in (secret, quote(secret, safe=""), quote_plus(secret), unquote(secret),
                     unquote_plus(secret)):
            forms.add(form)
            piece = ""
            for char in form + _DELIMITERS[0]:
                if char in _DELIMITERS:
                    if len(piece) >= _MIN_FRAGMENT:
                        forms.add(piece)
                    piece = ""
                else:
                    piece += char
    for form in sorted(forms, key=len, reverse=True):  # longest first: no partial leftovers
        text = text.replace(form, REDACTED)
    return text
