"""DigestSink block: where sealed verdicts go (s3://bucket/prefix or file:///dir) and with which credentials."""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from prefect_aws import AwsCredentials
from pydantic import Field

from evmdigest.emit import Sink, open_sink


class DigestSink(Block):
    """A write-once destination for EndpointDigestRecords and their seals."""

    _block_type_name = "Digest Sink"
    _block_type_slug = "digest-sink"
    _description = "Destination of sealed evm-logical-digest verdicts: an S3 prefix or a local folder."

    url: str = Field(description="s3://bucket/prefix, file:///absolute/dir or an absolute path")
    region: str | None = Field(
        default=None, description="AWS region when the credentials block sets none; default: the standard AWS chain."
    )
    endpoint_url: str | None = Field(
        default=None,
        description="S3-compatible endpoint (MinIO, R2) when the credentials block's client parameters set none.",
    )
    aws_credentials: AwsCredentials | None = Field(
        default=None,
        description="Optional prefect-aws credentials; its client parameters (endpoint, TLS verification, botocore "
        "config) apply as set. Default: boto3's standard credential chain.",
    )

    def open(self) -> Sink:
        credentials = self.aws_credentials
        if credentials is None:
            return open_sink(self.url, region=self.region, endpoint_url=self.endpoint_url)
        # The client as prefect-aws builds it (AwsCredentials.get_client): its session, its client
        # parameters, its region. Ours (region, endpoint_url) only fill what those leave unset.
        client_kwargs: dict[str, Any] = credentials.aws_client_parameters.get_params_override()
        if credentials.region_name is not None:
            client_kwargs["region_name"] = credentials.region_name
        return open_sink(
            self.url,
            region=self.region,
            endpoint_url=self.endpoint_url,
            session=credentials.get_boto3_session(),
            client_kwargs=client_kwargs,
        )
