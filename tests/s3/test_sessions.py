"""Sessions share botocore's service models (read once per process, not once per store) and
nothing else: credentials stay each session's own, and a caller's own botocore session keeps
its own loader."""

from __future__ import annotations

import botocore.session
import pytest

from s3explore import CredentialsError
from s3explore._s3client import make_client, make_session


def keys(access: str) -> dict[str, str]:
    return {"aws_access_key_id": access, "aws_secret_access_key": f"secret-{access}",
            "region_name": "us-east-1"}


def loader(session):
    return session._session.get_component("data_loader")


def test_sessions_share_the_models_and_keep_their_own_credentials():
    one, two = make_session(keys("AKIAONE")), make_session(keys("AKIATWO"))
    assert loader(one) is loader(two) is loader(make_session(None))
    assert one.get_credentials().access_key == "AKIAONE"
    assert two.get_credentials().access_key == "AKIATWO"
    first = make_client(keys("AKIAONE"), "http://127.0.0.1:9", workers=1)
    second = make_client(keys("AKIATWO"), "http://127.0.0.1:9", workers=1)
    assert first._request_signer._credentials.access_key == "AKIAONE"
    assert second._request_signer._credentials.access_key == "AKIATWO"


def test_a_callers_botocore_session_keeps_its_own_loader():
    own = botocore.session.Session()
    mine = loader(make_session(keys("AKIAONE")))
    session = make_session({"botocore_session": own})
    assert session._session is own and loader(session) is not mine


def test_a_missing_profile_is_still_named(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(CredentialsError, match="'no-such-profile'"):
        make_session("no-such-profile")
