"""DigestSink with prefect-aws credentials: every client parameter of the credentials block applies.

The endpoint is set only on the credentials block (AWS_ENDPOINT_URL is unset by the aws_test_env
fixture), so an object landing in moto proves the block's own client factory was used.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from prefect_aws import AwsClientParameters, AwsCredentials

from blocks import DigestSink
from tests.plugins.s3 import TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, S3Target


def _credentials(**client_parameters: object) -> AwsCredentials:
    return AwsCredentials(
        aws_access_key_id=TEST_ACCESS_KEY_ID,
        aws_secret_access_key=TEST_SECRET_ACCESS_KEY,
        aws_client_parameters=AwsClientParameters(**client_parameters),  # type: ignore[arg-type]
    )


def test_the_endpoint_set_only_on_the_credentials_is_where_the_record_lands(s3_bucket: S3Target) -> None:
    assert not [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]
    block = DigestSink(url=s3_bucket.url("evm"), aws_credentials=_credentials(endpoint_url=s3_bucket.endpoint_url))
    result = block.open().emit_json("v.json", {"sealed": True})
    assert result.uri == f"s3://{s3_bucket.bucket}/evm/v.json"
    body = s3_bucket.client().get_object(Bucket=s3_bucket.bucket, Key="evm/v.json")["Body"].read()
    assert json.loads(gzip.decompress(body)) == {"sealed": True}


def test_the_credentials_endpoint_wins_over_the_blocks_own(s3_bucket: S3Target) -> None:
    block = DigestSink(
        url=s3_bucket.url("evm"),
        endpoint_url="http://127.0.0.1:9",  # nothing listens here: using it would fail the emission
        aws_credentials=_credentials(endpoint_url=s3_bucket.endpoint_url),
    )
    assert block.open().emit_json("v.json", {}).uri == f"s3://{s3_bucket.bucket}/evm/v.json"


def test_the_blocks_endpoint_and_region_fill_what_the_credentials_leave_unset(s3_bucket: S3Target) -> None:
    block = DigestSink(
        url=s3_bucket.url("evm"),
        endpoint_url=s3_bucket.endpoint_url,
        region="eu-west-3",
        aws_credentials=_credentials(),
    )
    sink = block.open()
    assert sink.region == "eu-west-3"
    assert sink.emit_json("v.json", {}).uri == f"s3://{s3_bucket.bucket}/evm/v.json"
    credentials = _credentials(endpoint_url=s3_bucket.endpoint_url)
    credentials.region_name = "ap-south-1"
    assert DigestSink(url=s3_bucket.url("evm"), region="eu-west-3", aws_credentials=credentials).open().region == (
        "ap-south-1"
    )


def test_verify_and_botocore_config_apply_merged_with_ours(s3_bucket: S3Target) -> None:
    credentials = _credentials(
        endpoint_url=s3_bucket.endpoint_url,
        verify=False,
        config={
            "user_agent_extra": "evmd-test",
            "s3": {"payload_signing_enabled": True},
            "max_pool_connections": 9,
        },
    )
    sink = DigestSink(url=s3_bucket.url("evm"), aws_credentials=credentials).open()
    client = getattr(sink, "client")  # noqa: B009 - S3Sink's client; Sink has none
    config = client.meta.config
    assert config.user_agent_extra == "evmd-test"  # theirs alone
    assert config.max_pool_connections == 9  # both set it (ours is 4): theirs wins
    assert config.s3 == {"addressing_style": "path", "payload_signing_enabled": True}  # ours (custom endpoint) + theirs
    # botocore keeps `verify` only on the endpoint's HTTP session; no public accessor exists.
    assert client._endpoint.http_session._verify is False
    assert sink.emit_json("v.json", {}).uri == f"s3://{s3_bucket.bucket}/evm/v.json"


def test_a_folder_url_ignores_the_credentials(tmp_path: Path) -> None:
    folder = tmp_path / "sealed"
    block = DigestSink(url=folder.as_uri(), aws_credentials=_credentials(endpoint_url="http://127.0.0.1:9"))
    assert block.open().emit_json("v.json", {}).uri == (folder / "v.json").as_uri()
