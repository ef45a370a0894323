"""The embedded default stack: moto's server, tables, pool, demo data, demo model, log API.

``LocalStack.start()`` is what ``prompt-tester local`` and the test suite run. On a fresh
state folder it provisions and seeds everything; on a second start the AWS endpoint replays
its recording (see ``aws_server``), so what users created is still there.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..aws import AwsClients
from ..provision import init as provision_tables
from ..provision import init_bucket
from ..service import PromptTesterService
from ..settings import Settings
from .aws_server import AwsServer
from .flow_api import FlowApiServer
from .gateway import LocalGateway
from .hosted_ui import HostedUI
from .lifecycle import StartStop
from .model import ModelServer
from .watchdog import PartWatch

REGION = "us-east-1"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
DEFAULT_PORTS = {"aws": 4566, "model": 4011, "flow_api": 4012, "hosted_ui": 4013, "gateway": 4014}


def default_state_dir() -> Path:
    return Path(
        os.environ.get("PROMPT_TESTER_STATE_DIR") or Path.cwd() / ".prompt-tester" / "local"
    )


@dataclass
class StackInfo:
    """What the stack made: ids that stay the same across restarts."""

    user_pool_id: str
    client_id: str
    kms_key_id: str
    users: list[dict[str, Any]] = field(default_factory=list)  # email, password, sub, orgs
    seeded_at_ms: int = 0

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)


class LocalStack(StartStop):
    def __init__(
        self,
        state_dir: str | Path | None = None,
        *,
        persist: bool = True,
        aws_port: int = 0,
        model_port: int = 0,
        flow_api_port: int = 0,
        hosted_ui_port: int = 0,
        gateway_port: int = 0,
        model_latency_ms: int = 0,
        n_logs: int = 2400,
        seed_time_ms: int | None = None,
    ):
        self.state_dir = Path(state_dir) if state_dir else default_state_dir()
        self.persist = persist
        self.n_logs = n_logs
        # A fixed seed time makes the demo data (ids, timestamps) identical run after run,
        # which is what notebooks checked by nbval need.
        self.seed_time_ms = seed_time_ms
        self.aws = AwsServer(self.state_dir / "aws" if persist else None, port=aws_port)
        self.model = ModelServer(port=model_port, latency_ms=model_latency_ms)
        self._flow_api_port = flow_api_port
        self.flow_api: FlowApiServer | None = None
        self._hosted_ui_port = hosted_ui_port
        self.hosted_ui: HostedUI | None = None
        self._gateway_port = gateway_port
        self.gateway: LocalGateway | None = None
        self.info: StackInfo | None = None
        self.restored = False
        self.settings: Settings | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> LocalStack:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        for key, value in LOCAL_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        self.model.start()
        self.restored = self.aws.start()
        info_path = self.state_dir / "stack.json"
        base = Settings(endpoint_url=self.aws.url, region=REGION)
        clients = AwsClients(base)
        if self.restored and info_path.exists():
            self.info = StackInfo(**json.loads(info_path.read_text()))
            # tables added by a newer version of this package
            provision_tables(base, clients, bucket=False)
        else:
            provision_tables(base, clients, bucket=False)
            self.info = self._provision(clients)
            info_path.write_text(self.info.to_json())
            os.chmod(info_path, 0o600)
        # the experiments' bucket, encrypted with the stack's KMS key (made by _provision)
        init_bucket(base.model_copy(update={"kms_key_id": self.info.kms_key_id}), clients)
        self.hosted_ui = HostedUI(
            self.aws.url,
            REGION,
            self.info.client_id,
            self.info.user_pool_id,
            port=self._hosted_ui_port,
        ).start()
        self.settings = Settings(
            endpoint_url=self.aws.url,
            region=REGION,
            cognito_user_pool_id=self.info.user_pool_id,
            cognito_client_id=self.info.client_id,
            cognito_domain=self.hosted_ui.url,
            oidc_discovery_url=self.hosted_ui.discovery_url,
            kms_key_id=self.info.kms_key_id,
            openai_base_url=self.model.openai_base_url,
        )
        # The log API needs a service too; it only checks tokens and writes Logs.
        self.flow_api = FlowApiServer(
            PromptTesterService(self.settings), port=self._flow_api_port
        ).start()
        self.settings = self.settings.model_copy(update={"flow_prompt_api_uri": self.flow_api.url})
        # The web backend's Lambda functions, behind a local API Gateway and its authorizer.
        self.gateway = LocalGateway(
            PromptTesterService(self.settings), port=self._gateway_port
        ).start()
        if not self.restored:
            self._seed_secrets(clients)
        (self.state_dir / "env").write_text(
            "".join(f"export {k}={json.dumps(v)}\n" for k, v in self.environ().items())
        )
        return self

    def stop(self) -> None:
        if self.gateway:
            self.gateway.stop()
        if self.flow_api:
            self.flow_api.stop()
        if self.hosted_ui:
            self.hosted_ui.stop()
        self.aws.stop()
        self.model.stop()

    def watch(self, watch: PartWatch) -> PartWatch:
        """Give each running part to the demo's watchdog, named as a user knows it."""
        if self.aws.process is not None:
            watch.process("local AWS endpoint (moto server)", self.aws.process)
        if self.model.thread is not None:
            watch.thread("demo model server", self.model.thread)
        for name, part in (
            ("log API (flow-prompt stand-in)", self.flow_api),
            ("sign-in page (Cognito hosted UI stand-in)", self.hosted_ui),
            ("web backend's API gateway", self.gateway),
        ):
            thread = getattr(part, "thread", None)
            if thread is not None:
                watch.thread(name, thread)
        return watch

    # --- what a notebook needs -------------------------------------------------------------
    def environ(self) -> dict[str, str]:
        assert self.settings and self.info
        demo = self.info.users[0]
        return {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.aws.url,
            "AWS_REGION": REGION,
            "PROMPT_TESTER_COGNITO_USER_POOL_ID": self.info.user_pool_id,
            "PROMPT_TESTER_COGNITO_CLIENT_ID": self.info.client_id,
            "PROMPT_TESTER_KMS_KEY_ID": self.info.kms_key_id,
            "PROMPT_TESTER_COGNITO_DOMAIN": self.hosted_ui.url if self.hosted_ui else "",
            "PROMPT_TESTER_OIDC_DISCOVERY_URL": self.hosted_ui.discovery_url
            if self.hosted_ui
            else "",
            "FLOW_PROMPT_API_URI": self.settings.flow_prompt_api_uri or "",
            "OPENAI_BASE_URL": self.model.openai_base_url,
            "PROMPT_TESTER_EMAIL": demo["email"],
            "PROMPT_TESTER_PASSWORD": demo["password"],
            "PROMPT_TESTER_ENV": "staging",
        }

    def describe(self) -> str:
        assert self.info
        lines = [
            f"Local AWS endpoint (moto): {self.aws.url}"
            + ("  [state restored]" if self.restored else "  [fresh, seeded]"),
            f"Demo model (OpenAI/Azure compatible, NOT a real LLM): {self.model.url}",
            f"flow-prompt log API stand-in: {self.flow_api.url if self.flow_api else '-'}",
            f"Cognito hosted-UI stand-in: {self.hosted_ui.url if self.hosted_ui else '-'}",
            "Web backend (the Lambda functions behind an API Gateway stand-in; send the ID"
            f" token as Authorization): {self.gateway.url if self.gateway else '-'}",
            f"State folder: {self.state_dir} (delete it, or run with --reset, to start over)",
            "Demo users:",
        ]
        for user in self.info.users:
            lines.append(
                f"  {user['email']:<26} password {user['password']:<20} orgs {user['orgs']}"
            )
        lines.append("Settings for a notebook (also written to the state folder's 'env' file):")
        lines += [f"  export {k}={json.dumps(v)}" for k, v in self.environ().items()]
        return "\n".join(lines)

    # --- first start ------------------------------------------------------------------------
    def _provision(self, clients: AwsClients) -> StackInfo:
        from ..engine.flow_adapter import sample_tokens
        from .seed_data import build_demo_dataset, user_role_items

        now_ms = self.seed_time_ms or int(time.time() * 1000)
        # the logs' sample tokens as flow-prompt records them, so estimates match the demo's
        data = build_demo_dataset(now_ms, n_logs=self.n_logs, sample_tokens=sample_tokens)
        kms_key_id = clients.client("kms").create_key(
            Description="prompt-tester demo provider keys"
        )["KeyMetadata"]["KeyId"]
        cognito = clients.cognito
        pool_id = cognito.create_user_pool(
            PoolName="prompt-tester-demo",
            AutoVerifiedAttributes=["email"],
            Schema=[{"Name": "email", "AttributeDataType": "String", "Required": True}],
        )["UserPool"]["Id"]
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="prompt-tester-nb",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            AllowedOAuthFlows=["code"],
            AllowedOAuthScopes=["openid", "email", "profile"],
            AllowedOAuthFlowsUserPoolClient=True,
            SupportedIdentityProviders=["COGNITO"],
            CallbackURLs=["http://localhost:8888/prompt-tester/auth/callback"],
        )["UserPoolClient"]["ClientId"]
        users: list[dict[str, Any]] = []
        db = clients.dynamodb
        role_items: list[dict[str, Any]] = []
        for user in data.users:
            cognito.admin_create_user(
                UserPoolId=pool_id,
                Username=user.email,
                UserAttributes=[
                    {"Name": "email", "Value": user.email},
                    {"Name": "email_verified", "Value": "true"},
                    {"Name": "name", "Value": user.name},
                ],
                MessageAction="SUPPRESS",
            )
            cognito.admin_set_user_password(
                UserPoolId=pool_id, Username=user.email, Password=user.password, Permanent=True
            )
            attrs = cognito.admin_get_user(UserPoolId=pool_id, Username=user.email)
            sub = next(a["Value"] for a in attrs["UserAttributes"] if a["Name"] == "sub")
            role_items += user_role_items(user, sub)
            users.append(
                {
                    "email": user.email,
                    "password": user.password,
                    "sub": sub,
                    "orgs": [m[0] for m in user.memberships],
                }
            )
        settings = Settings(endpoint_url=clients.settings.endpoint_url, region=REGION)
        _batch_put(db, settings.table("Organizations"), data.organizations)
        _batch_put(db, settings.table("Environments"), data.environments)
        _batch_put(db, settings.table("UserRoles"), role_items)
        _batch_put(db, settings.table("PromptHistory"), data.prompt_history)
        _batch_put(db, settings.table("LatestPrompts"), data.latest_prompts)
        _batch_put(db, settings.table("Logs"), data.logs)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now_ms / 1000))
        behaviours = [
            {
                "env_id": env["env_id"],
                "name": b["name"],
                "spec": b["spec"],
                "version": 1,
                "created_by": "seed",
                "created_at": stamp,
                "updated_by": "seed",
                "updated_at": stamp,
            }
            for env in data.environments
            for b in data.behaviours
        ]
        _batch_put(db, settings.table("Behaviours"), behaviours)
        return StackInfo(
            user_pool_id=pool_id,
            client_id=client_id,
            kms_key_id=kms_key_id,
            users=users,
            seeded_at_ms=now_ms,
        )

    def _seed_secrets(self, clients: AwsClients) -> None:
        """Demo keys for every environment, pointing at the demo model (not real keys)."""
        from .seed_data import build_demo_dataset

        assert self.settings
        data = build_demo_dataset(self.info.seeded_at_ms if self.info else 0, n_logs=0)
        sm = clients.secretsmanager
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        for env in data.environments:
            doc = {
                "AZURE_OPENAI_KEYS": {
                    "westus": {"url": self.model.url, "key": f"demo-azure-key-{env['env_id']}"}
                },
                "OPENAI_API_KEY": f"demo-openai-key-{env['env_id']}",
                "_updated": {
                    "AZURE_OPENAI_KEYS": stamp,
                    "AZURE_OPENAI_KEYS.westus": stamp,
                    "OPENAI_API_KEY": stamp,
                },
            }
            sm.create_secret(
                Name=self.settings.secret_name(env["env_id"]),
                SecretString=json.dumps(doc),
                KmsKeyId=self.settings.kms_key_id,
                Tags=[
                    {"Key": "org_id", "Value": env["org_id"]},
                    {"Key": "env_id", "Value": env["env_id"]},
                    {"Key": "app", "Value": "prompt-tester"},
                ],
            )


def _batch_put(db: Any, table: str, items: list[dict[str, Any]]) -> None:
    from ..stores.dynamo import serialize

    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": serialize(i)}} for i in items[start : start + 25]]
        pending: dict[str, Any] = {table: requests}
        for _ in range(10):
            result = db.batch_write_item(RequestItems=pending)
            pending = result.get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(0.05)
