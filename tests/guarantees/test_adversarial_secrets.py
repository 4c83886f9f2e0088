"""Generated secrets over every character AWS and MongoDB allow never show: not in reprs,
attributes, ``as_dict``/``to_json``, errors (with their causes) or log records at DEBUG.

AWS secret keys use ``[A-Za-z0-9/+=]``; MongoDB passwords any printable character, which a
URI must percent-encode. Users also paste them unescaped; those must not leak either.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import string
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3explore import MemoryStore, MongoStore, S3ExploreError, S3Store
from s3explore._secrets import redact_url, scrub, strip_userinfo
from s3explore.local_s3 import LocalS3
from tests.guarantees.test_security import chain, closed_port, rendered

AWS_CHARS = string.ascii_letters + string.digits + "/+="
MONGO_CHARS = "".join(chr(c) for c in range(0x20, 0x7F))  # printable ASCII, space included
RNG = random.Random(20240611)


def generated(chars: str, count: int = 3, length: int = 40) -> list[str]:
    """Secrets that together use every character of ``chars``, each also holding '/'."""
    pool = list(chars)
    RNG.shuffle(pool)
    out = []
    for i in range(count):
        own = pool[i::count] + RNG.choices(chars, k=length)
        RNG.shuffle(own)
        secret = "".join(own)[:length]
        if "/" in chars and "/" not in secret:
            secret = secret[:10] + "/" + secret[11:]
        out.append(secret)
    assert set("".join(pool)) == set(chars)
    return out


AWS_SECRETS = generated(AWS_CHARS)
MONGO_SECRETS = generated(MONGO_CHARS)


def pieces(secret: str) -> list[str]:
    """The secret and its runs of 8+ characters between URL delimiters: a library that
    splits an unescaped URL at '/', ':' or '@' would otherwise print a piece of it."""
    runs, run = [], ""
    for char in secret + "/":
        if char in "/:@?#":
            if len(run) >= 8:
                runs.append(run)
            run = ""
        else:
            run += char
    return [secret, quote_plus(secret), *runs]


def assert_clean(texts: list[str], secrets: list[str]) -> None:
    for text in texts:
        for secret in secrets:
            for piece in pieces(secret):
                assert piece not in text, f"{piece!r} of a secret leaked in: {text[:300]!r}"


def store_texts(store) -> list[str]:
    """Everything a notebook shows of a store: repr, public attributes and properties, config."""
    texts = rendered(store)
    for obj in (store, getattr(store, "index", None), getattr(store, "objects", None)):
        if obj is None:
            continue
        texts.append(repr({k: v for k, v in vars(obj).items() if not k.startswith("_")}))
        texts.append(repr(vars(obj)))  # private attributes too: a debugger shows them
        for name in dir(type(obj)):
            if not name.startswith("_") and isinstance(getattr(type(obj), name), property):
                with contextlib.suppress(S3ExploreError):  # e.g. client before connect()
                    texts.append(repr(getattr(obj, name)))
    texts += [repr(store.as_dict()), store.to_json()]
    return texts


def failure_texts(call) -> list[str]:
    try:
        call()
    except S3ExploreError as exc:
        return [text for link in chain(exc) for text in rendered(link)]
    raise AssertionError(f"{call} did not fail")


@pytest.fixture
def logs(caplog):
    with caplog.at_level(logging.DEBUG):
        yield caplog


def log_texts(caplog, *, botocore: bool) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [formatter.format(r) for r in caplog.records
            if r.name.startswith("botocore") == botocore]


# ------------------------------------------------------------------ the helpers


@settings(max_examples=300, deadline=None)
@given(user=st.text(MONGO_CHARS, min_size=1, max_size=12).filter(lambda u: ":" not in u),
       password=st.text(MONGO_CHARS, min_size=8, max_size=40),
       encode=st.booleans(), scheme=st.sampled_from(["http", "https", "mongodb"]))
def test_redaction_hides_any_password_escaped_or_not(user, password, encode, scheme):
    shown = quote_plus(password) if encode else password
    user = quote_plus(user) if encode else user.replace("@", "")
    url = f"{scheme}://{user}:{shown}@db.example.org:9000"
    for text in (redact_url(url), strip_userinfo(url)):
        assert text.startswith(f"{scheme}://") and text.endswith("db.example.org:9000")
        # what stands between scheme and host (a password may spell "https://" itself)
        userinfo = text[len(scheme) + 3:-len("db.example.org:9000")]
        assert shown not in userinfo and password not in userinfo
    assert strip_userinfo(url) == f"{scheme}://db.example.org:9000"
    assert scrub(f"bad port: {password!r}", [password]).count(password) == 0


# ------------------------------------------------------------------ S3


@pytest.mark.parametrize("secret", AWS_SECRETS, ids=["aws0", "aws1", "aws2"])
def test_s3store_endpoint_and_profile_secrets_never_show(logs, secret, bucket):
    profile = {"aws_access_key_id": "AKIDGENERATED", "aws_secret_access_key": secret,
               "region_name": "us-east-1"}
    endpoint = f"http://admin:{secret}@127.0.0.1:{closed_port()}"
    store = S3Store(MemoryStore("gen"), bucket, s3_profile=profile, endpoint_url=endpoint,
                    s3_resource_kwargs={"aws_session_token": secret}, s3_workers=1, retries=1)
    assert store.endpoint_url == endpoint.replace(f"admin:{secret}@", "")
    texts = store_texts(store) + failure_texts(store.connect)
    logging.getLogger("s3explore").debug("generated endpoint scenario done")
    assert_clean(texts + log_texts(logs, botocore=False), [secret])
    # botocore's DEBUG records show signed headers; the secret key itself is never sent
    assert_clean(log_texts(logs, botocore=True), [secret])


def test_refused_generated_credentials_never_show(logs, bucket):
    secret = AWS_SECRETS[0]
    with LocalS3(access_keys={"someone-else"}) as guarded:
        store = S3Store(MemoryStore("ref"), bucket, endpoint_url=guarded.endpoint_url,
                        s3_profile={"aws_access_key_id": "AKIDGENERATED",
                                    "aws_secret_access_key": secret})
        texts = store_texts(store) + failure_texts(store.connect)
    assert_clean(texts + log_texts(logs, botocore=False) + log_texts(logs, botocore=True),
                 [secret])


# ------------------------------------------------------------------ MongoDB


def mongo_cases(password: str, port: int) -> list:
    host = f"127.0.0.1:{port}"
    return [
        lambda: MongoStore("db", "c", host="127.0.0.1", port=port, username="u",
                           password=password, serverSelectionTimeoutMS=200),
        lambda: MongoStore.from_uri(f"mongodb://u:{quote_plus(password)}@{host}/db", "c",
                                    serverSelectionTimeoutMS=200),
        lambda: MongoStore.from_uri(f"mongodb://u:{password}@{host}/db", "c",
                                    serverSelectionTimeoutMS=200),  # pasted unescaped
        lambda: MongoStore.from_uri(f"mongodb://u:{password}@{host}/db", "c", database="db"),
        lambda: MongoStore.from_uri(f"mongodb://u:{quote_plus(password)}@127.0.0.1:nope/db",
                                    "c"),
        lambda: MongoStore("db", "c", host=f"mongodb://u:{quote_plus(password)}@{host}/db",
                           serverSelectionTimeoutMS=200),
        lambda: MongoStore("db", "c", host="127.0.0.1", port=port, serverSelectionTimeoutMS=200,
                           mongoclient_kwargs={"password": password, "username": "u",
                                               "authMechanismProperties": f"T:{password}"}),
    ]


@pytest.mark.parametrize("password", [*MONGO_SECRETS, MONGO_CHARS.strip()],
                         ids=["gen0", "gen1", "gen2", "every-printable"])
@pytest.mark.slow
def test_mongo_generated_passwords_never_show(logs, password):
    texts: list[str] = []
    for build in mongo_cases(password, closed_port()):
        try:
            store = build()
        except S3ExploreError:
            texts += failure_texts(build)  # refused at construction: the message is clean
            continue
        texts += store_texts(store)
        texts.append(repr(vars(store)))  # private attributes too: they are sealed
        texts += failure_texts(store.connect)
        wrapped = S3Store(store, "some-bucket")
        texts += store_texts(wrapped)
        assert password not in json.dumps(store.as_dict(), default=str)
    logging.getLogger("s3explore").debug("generated mongo scenario done")
    assert_clean(texts + log_texts(logs, botocore=False), [password])


def test_an_unescaped_password_that_splits_the_uri_is_refused_with_a_clear_message():
    password = "EpPa55/w0rd+05"
    with pytest.raises(S3ExploreError, match="percent-encode") as info:
        MongoStore.from_uri(f"mongodb://admin:{password}@127.0.0.1:27017/db?x=1", "c")
    assert "mongodb://***@127.0.0.1:27017/db" in str(info.value)
    assert_clean([t for link in chain(info.value) for t in rendered(link)], [password])
