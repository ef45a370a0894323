"""One settings object, read from the environment.

The same code runs against the embedded local stack and real AWS: only these values differ.
AWS credentials are never read here; boto3's own chain (environment, profile, instance role)
does that, so nothing in this object is secret.
"""

from __future__ import annotations

import os

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .schema import TABLE_NAMES


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Where the tables, secrets, user pool and model services are.

    Every field can be given as an environment variable (the name in ``validation_alias``)
    or as a keyword argument: ``Settings(region="eu-west-1")``.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    region: str = Field(
        "us-east-1", validation_alias=_env("AWS_REGION", "AWS_DEFAULT_REGION", "region")
    )
    endpoint_url: str | None = Field(
        None,
        validation_alias=_env("AWS_ENDPOINT_URL", "endpoint_url"),
        description="One endpoint for every AWS service (the local stack); unset for AWS.",
    )
    profile: str | None = Field(None, validation_alias=_env("AWS_PROFILE", "profile"))
    table_prefix: str = Field(
        "", validation_alias=_env("PROMPT_TESTER_TABLE_PREFIX", "table_prefix")
    )
    table_suffix: str = Field(
        "", validation_alias=_env("PROMPT_TESTER_TABLE_SUFFIX", "table_suffix")
    )
    cognito_user_pool_id: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_COGNITO_USER_POOL_ID", "cognito_user_pool_id"),
    )
    cognito_client_id: str | None = Field(
        None, validation_alias=_env("PROMPT_TESTER_COGNITO_CLIENT_ID", "cognito_client_id")
    )
    cognito_client_secret: str | None = Field(
        None,
        repr=False,
        validation_alias=_env("PROMPT_TESTER_COGNITO_CLIENT_SECRET", "cognito_client_secret"),
    )
    cognito_domain: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_COGNITO_DOMAIN", "cognito_domain"),
        description="The pool's hosted UI, e.g. https://x.auth.us-east-1.amazoncognito.com;"
        " unset: sign-in uses the email + password form.",
    )
    cognito_jwks_url: str | None = Field(
        None, validation_alias=_env("PROMPT_TESTER_COGNITO_JWKS_URL", "cognito_jwks_url")
    )
    redirect_url: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_REDIRECT_URL", "redirect_url"),
        description="The web backend's sign-in callback URL as registered in the app client;"
        " unset: the Lambda derives it from the request (…/auth/callback).",
    )
    secret_prefix: str = Field(
        "prompt-tester", validation_alias=_env("PROMPT_TESTER_SECRET_PREFIX", "secret_prefix")
    )
    kms_key_id: str | None = Field(
        None, validation_alias=_env("PROMPT_TESTER_KMS_KEY_ID", "kms_key_id")
    )
    token_ttl_hours: float = Field(
        24, gt=0, validation_alias=_env("PROMPT_TESTER_TOKEN_TTL_HOURS", "token_ttl_hours")
    )
    flow_prompt_api_uri: str | None = Field(
        None,
        validation_alias=_env("FLOW_PROMPT_API_URI", "flow_prompt_api_uri"),
        description="Where flow-prompt posts each call (lib/logs); unset: calls are not logged.",
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=_env("OPENAI_BASE_URL", "openai_base_url"),
        description="Base URL for provider 'openai' (Azure URLs come from the stored keys).",
    )
    model_timeout_seconds: float = Field(
        60,
        gt=0,
        validation_alias=_env("PROMPT_TESTER_MODEL_TIMEOUT", "model_timeout_seconds"),
    )
    model_max_retries: int = Field(
        2,
        ge=0,
        le=10,
        validation_alias=_env("PROMPT_TESTER_MODEL_MAX_RETRIES", "model_max_retries"),
    )
    aws_timeout_seconds: float = Field(
        20,
        gt=0,
        validation_alias=_env("PROMPT_TESTER_AWS_TIMEOUT", "aws_timeout_seconds"),
        description="Read timeout of each AWS call (botocore retries throttling up to 4 times).",
    )
    access_cache_seconds: float = Field(
        10,
        ge=0,
        validation_alias=_env("PROMPT_TESTER_ACCESS_CACHE_SECONDS", "access_cache_seconds"),
    )
    cursor_key: str | None = Field(
        None,
        repr=False,
        validation_alias=_env("PROMPT_TESTER_CURSOR_KEY", "cursor_key"),
        description="Fernet key that seals page cursors; a random one per process if unset.",
    )
    tiktoken_cache_dir: str | None = Field(
        None, validation_alias=_env("TIKTOKEN_CACHE_DIR", "tiktoken_cache_dir")
    )

    def table(self, logical_name: str) -> str:
        """The deployed name of one of the tables in ``schema.TABLES``."""
        if logical_name not in TABLE_NAMES:
            raise KeyError(logical_name)
        return f"{self.table_prefix}{logical_name}{self.table_suffix}"

    def endpoint_for(self, service: str) -> str | None:
        """The endpoint for one AWS service, honouring AWS_ENDPOINT_URL_<SERVICE> as boto3 does."""
        specific = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}")
        return specific or self.endpoint_url

    @property
    def jwks_url(self) -> str | None:
        if self.cognito_jwks_url:
            return self.cognito_jwks_url
        if not self.cognito_user_pool_id:
            return None
        endpoint = self.endpoint_for("cognito-idp")
        if endpoint:
            return f"{endpoint.rstrip('/')}/{self.cognito_user_pool_id}/.well-known/jwks.json"
        return (
            f"https://cognito-idp.{self.region}.amazonaws.com/"
            f"{self.cognito_user_pool_id}/.well-known/jwks.json"
        )

    @property
    def cognito_issuer(self) -> str | None:
        if not self.cognito_user_pool_id:
            return None
        # Cognito (and moto) always issue the AWS-style issuer, even from a local endpoint.
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.cognito_user_pool_id}"

    def secret_name(self, env_id: str) -> str:
        return f"{self.secret_prefix}/{env_id}/provider-keys"
