"""DigestSink block: where sealed verdicts go (s3://bucket/prefix or file:///dir) and with which credentials."""

from __future__ import annotations

from typing import Any

from botocore.config import Config
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
    allow_overwriting_store: bool = Field(
        default=False,
        description=(
            "Publish even if the store ignores conditional writes (If-None-Match): a second run could then "
            "overwrite a sealed verdict. Off: such a store is refused by the write-once probe."
        ),
    )
    aws_credentials: AwsCredentials | None = Field(
        default=None,
        description="Optional prefect-aws credentials; its client parameters (endpoint, TLS verification, botocore "
        "config) apply as set. Default: boto3's standard credential chain.",
    )

    def open(self, *, max_pool_connections: int | None = None) -> Sink:
        """The sink; `max_pool_connections` sizes the S3 connection pool for that many parallel reads."""
        credentials = self.aws_credentials
        pool = Config(max_pool_connections=max_pool_connections) if max_pool_connections else None
        if credentials is None:
            return open_sink(
                self.url,
                region=self.region,
                endpoint_url=self.endpoint_url,
                client_kwargs={"config": pool} if pool else None,
            )
        # The client as prefect-aws builds it (AwsCredentials.get_client): its session, its client
        # parameters, its region. Ours (region, endpoint_url, pool size) only fill what those leave unset.
        client_kwargs: dict[str, Any] = credentials.aws_client_parameters.get_params_override()
        if credentials.region_name is not None:
            client_kwargs["region_name"] = credentials.region_name
        if pool is not None:
            client_kwargs["config"] = pool.merge(client_kwargs["config"]) if client_kwargs.get("config") else pool
        return open_sink(
            self.url,
            region=self.region,
            endpoint_url=self.endpoint_url,
            session=credentials.get_boto3_session(),
            client_kwargs=client_kwargs,
        )
