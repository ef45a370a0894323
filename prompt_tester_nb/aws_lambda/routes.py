"""Which function answers which method and resource: the API that ``deploy/template.yaml``
declares, read by the local gateway (and checked against the template by the tests). Each
function's routes are the operations the table in ``api/operations.py`` gives it."""

from __future__ import annotations

from dataclasses import dataclass

from ..api.operations import (
    AI_MODEL,
    AUTHENTICATION,
    BEHAVIOURS,
    LOGS,
    PROMPT_TESTING,
    SECRETS,
    routes_of,
)


@dataclass(frozen=True)
class Function:
    logical_id: str  # the template's resource name
    module: str  # prompt_tester_nb.aws_lambda.<module>
    routes: tuple[tuple[str, str], ...]  # (METHOD, API Gateway resource path)
    authorized: bool = True  # behind the Cognito user-pool authorizer


# The routes come from the one operation table (api/operations.py), in its order.
FUNCTIONS: tuple[Function, ...] = (
    Function(LOGS, "logs_retrieval_handler", routes_of(LOGS)),
    Function(PROMPT_TESTING, "prompt_testing_handler", routes_of(PROMPT_TESTING)),
    Function(AI_MODEL, "ai_model_interaction_handler", routes_of(AI_MODEL)),
    Function(BEHAVIOURS, "behaviors_crud_handler", routes_of(BEHAVIOURS)),
    Function(SECRETS, "secrets_management_handler", routes_of(SECRETS)),
    Function(AUTHENTICATION, "authentication_handler", routes_of(AUTHENTICATION), authorized=False),
)
