"""One S3 client per endpoint, region and key pair, kept by the process (services/storage/s3.py).

Making a client costs about a tenth of a second and 16 MB; a worker uploads
many backups. A rotated key or an edited endpoint must still get a client of
its own. No server is needed: a client is made without connecting.
"""

import pytest

from backups_app.models import BackupStorage
from backups_app.services.storage import s3


def storage(**fields) -> BackupStorage:
    return BackupStorage(**{"name": "offsite", "kind": "s3", "endpoint_url": "http://127.0.0.1:9", "bucket": "b",
                            "region": "us-east-1", "access_key_env": "BC_TEST_KEY", "secret_key_env": "BC_TEST_SECRET",
                            **fields})


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("BC_TEST_KEY", "key-1")
    monkeypatch.setenv("BC_TEST_SECRET", "secret-1")
    return monkeypatch


def test_the_same_storage_and_keys_share_one_client(keys):
    first = s3.client_for(storage())
    assert s3.client_for(storage()) is first
    assert s3.S3Store(storage()).client is first


def test_a_rotated_key_gets_a_client_that_signs_with_it(keys):
    before = s3.client_for(storage())
    keys.setenv("BC_TEST_SECRET", "secret-2")
    after = s3.client_for(storage())
    assert after is not before
    assert after._request_signer._credentials.secret_key == "secret-2"
    assert before._request_signer._credentials.secret_key == "secret-1"


def test_another_endpoint_or_region_gets_its_own_client(keys):
    base = s3.client_for(storage())
    moved = s3.client_for(storage(endpoint_url="http://127.0.0.1:10"))
    elsewhere = s3.client_for(storage(region="ap-northeast-1"))
    assert len({id(base), id(moved), id(elsewhere)}) == 3
    assert moved.meta.endpoint_url == "http://127.0.0.1:10"
    assert elsewhere.meta.region_name == "ap-northeast-1"


def test_a_missing_key_variable_is_refused_and_nothing_is_kept(keys):
    keys.delenv("BC_TEST_SECRET")
    with pytest.raises(s3.StorageError, match="BC_TEST_SECRET is not set"):
        s3.client_for(storage(endpoint_url="http://127.0.0.1:11"))
    assert not any(key[0] == "http://127.0.0.1:11" for key in s3._clients)
