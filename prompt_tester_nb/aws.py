"""boto3 clients built from Settings, shared by the stores.

Clients are thread-safe and costly to build, so one set is made per Settings and reused.
Retries on throttling and 5xx use botocore's own "standard" mode with bounded timeouts, so a
slow or failing endpoint ends in an error instead of a hang.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from .settings import Settings


def _config(settings: Settings, service: str = "") -> Config:
    extra: dict[str, Any] = {}
    if service == "s3" and settings.endpoint_for("s3"):
        # a local endpoint (127.0.0.1:port) has no bucket subdomains: bucket in the path
        extra["s3"] = {"addressing_style": "path"}
    return Config(
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=5,
        read_timeout=settings.aws_timeout_seconds,
        max_pool_connections=64,
        **extra,
    )


@dataclass
class AwsClients:
    """Lazily built boto3 clients for one Settings."""

    settings: Settings
    session: Any = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.session is None:
            self.session = boto3.session.Session(
                profile_name=self.settings.profile, region_name=self.settings.region
            )

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service,
                    region_name=self.settings.region,
                    endpoint_url=self.settings.endpoint_for(service),
                    config=_config(self.settings, service),
                )
            return self._clients[service]

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def secretsmanager(self) -> Any:
        return self.client("secretsmanager")

    @property
    def cognito(self) -> Any:
        return self.client("cognito-idp")

    @property
    def s3(self) -> Any:
        return self.client("s3")
