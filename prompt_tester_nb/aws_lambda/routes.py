"""Which function answers which method and resource: the API that ``deploy/template.yaml``
declares, read by the local gateway (and checked against the template by the tests)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Function:
    logical_id: str  # the template's resource name
    module: str  # prompt_tester_nb.aws_lambda.<module>
    routes: tuple[tuple[str, str], ...]  # (METHOD, API Gateway resource path)
    authorized: bool = True  # behind the Cognito user-pool authorizer


FUNCTIONS: tuple[Function, ...] = (
    Function(
        "LogsRetrievalFunction",
        "logs_retrieval_handler",
        (
            ("GET", "/environments"),
            ("GET", "/envs/{env}/logs"),
            ("GET", "/envs/{env}/logs/{context_id}"),
            ("PUT", "/envs/{env}/logs/{context_id}/ideal-answer"),
        ),
    ),
    Function(
        "PromptTestingFunction",
        "prompt_testing_handler",
        (("POST", "/envs/{env}/open-test"), ("POST", "/envs/{env}/test-with-context")),
    ),
    Function(
        "AIModelInteractionFunction",
        "ai_model_interaction_handler",
        (("POST", "/envs/{env}/test"),),
    ),
    Function(
        "BehaviorsCRUDFunction",
        "behaviors_crud_handler",
        (
            ("GET", "/envs/{env}/behaviours"),
            ("POST", "/envs/{env}/behaviours"),
            ("GET", "/envs/{env}/behaviours/{name}"),
            ("PUT", "/envs/{env}/behaviours/{name}"),
            ("DELETE", "/envs/{env}/behaviours/{name}"),
        ),
    ),
    Function(
        "SecretsManagementFunction",
        "secrets_management_handler",
        (
            ("GET", "/envs/{env}/secrets"),
            ("PUT", "/envs/{env}/secrets"),
            ("DELETE", "/envs/{env}/secrets"),
        ),
    ),
    Function(
        "AuthenticationFunction",
        "authentication_handler",
        (
            ("GET", "/auth/login"),
            ("GET", "/auth/callback"),
            ("POST", "/auth/refresh"),
            ("POST", "/auth/logout"),
        ),
        authorized=False,
    ),
)
