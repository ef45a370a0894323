"""The one table of the web API's operations: which service operation each route runs, and
which adapter serves it.

The Lambda functions' routes (``aws_lambda.routes.FUNCTIONS``, which the local gateway
dispatches on and ``deploy/template.yaml``'s events are tested against) are built from it;
the REST ``ROUTES`` (which also make the OpenAPI document) are tested against it. So adding
an operation is: its function in ``service/<feature>.py``, a one-line door on
``PromptTesterService`` and a ``Session`` method, one row here, then its REST handler and
``ROUTES`` entry (types only) and, if Lambda serves it, its handler in the function's module
and the template's event.
"""

from __future__ import annotations

from dataclasses import dataclass

# The Lambda functions (the template's logical ids), in the template's order.
LOGS = "LogsRetrievalFunction"
PROMPT_TESTING = "PromptTestingFunction"
AI_MODEL = "AIModelInteractionFunction"
BEHAVIOURS = "BehaviorsCRUDFunction"
SECRETS = "SecretsManagementFunction"
AUTHENTICATION = "AuthenticationFunction"


@dataclass(frozen=True)
class Operation:
    name: str  # the PromptTesterService method it runs (None-service routes: the adapter's)
    method: str  # HTTP method
    path: str  # the resource as API Gateway writes it; REST serves it under /prompt-tester/api
    summary: str  # the OpenAPI summary
    rest: bool = True  # served by the Jupyter server extension
    function: str | None = None  # the Lambda function that serves it (None: REST only)
    service: bool = True  # runs a PromptTesterService method named ``name``


OPERATIONS: tuple[Operation, ...] = (
    Operation("environments", "GET", "/environments", "The user's environments", function=LOGS),
    Operation("logs", "GET", "/envs/{env}/logs", "Logs, newest first, paged", function=LOGS),
    Operation("log", "GET", "/envs/{env}/logs/{context_id}", "One log", function=LOGS),
    Operation(
        "set_ideal_answer",
        "PUT",
        "/envs/{env}/logs/{context_id}/ideal-answer",
        "Set a log's ideal answer (answers the log)",
        function=LOGS,
    ),
    Operation("prompt_ids", "GET", "/envs/{env}/prompts", "Prompt ids"),
    Operation(
        "prompt_versions",
        "GET",
        "/envs/{env}/prompts/{prompt_id}/versions",
        "Versions of a prompt, newest first",
    ),
    Operation(
        "prompt",
        "GET",
        "/envs/{env}/prompts/{prompt_id}",
        "A prompt version (latest without ?version=)",
    ),
    Operation(
        "open_test",
        "POST",
        "/envs/{env}/open-test",
        "Open a log in the tester",
        function=PROMPT_TESTING,
    ),
    Operation(
        "test_with_context",
        "POST",
        "/envs/{env}/test-with-context",
        "Rerun a logged call, optionally edited",
        function=PROMPT_TESTING,
    ),
    Operation(
        "test", "POST", "/envs/{env}/test", "Run a draft with a behaviour", function=AI_MODEL
    ),
    Operation(
        "list_behaviours", "GET", "/envs/{env}/behaviours", "Behaviours", function=BEHAVIOURS
    ),
    Operation(
        "create_behaviour",
        "POST",
        "/envs/{env}/behaviours",
        "Create a behaviour",
        function=BEHAVIOURS,
    ),
    Operation(
        "get_behaviour", "GET", "/envs/{env}/behaviours/{name}", "A behaviour", function=BEHAVIOURS
    ),
    Operation(
        "update_behaviour",
        "PUT",
        "/envs/{env}/behaviours/{name}",
        "Update (needs the version read)",
        function=BEHAVIOURS,
    ),
    Operation(
        "delete_behaviour",
        "DELETE",
        "/envs/{env}/behaviours/{name}",
        "Delete (?version= optional)",
        function=BEHAVIOURS,
    ),
    Operation(
        "secrets_status",
        "GET",
        "/envs/{env}/secrets",
        "Which provider keys are set (never values)",
        function=SECRETS,
    ),
    Operation(
        "set_secrets", "PUT", "/envs/{env}/secrets", "Set provider keys (merge)", function=SECRETS
    ),
    Operation(
        "delete_secrets", "DELETE", "/envs/{env}/secrets", "Remove provider keys", function=SECRETS
    ),
    Operation(
        "audit", "GET", "/envs/{env}/audit", "Recent changes to behaviours and provider keys"
    ),
    Operation("list_datasets", "GET", "/envs/{env}/datasets", "Datasets", function=LOGS),
    Operation("create_dataset", "POST", "/envs/{env}/datasets", "Create a dataset", function=LOGS),
    Operation(
        "get_dataset",
        "GET",
        "/envs/{env}/datasets/{dataset}",
        "A dataset and its items (name@version for an earlier version)",
        function=LOGS,
    ),
    Operation(
        "delete_dataset",
        "DELETE",
        "/envs/{env}/datasets/{dataset}",
        "Delete a dataset",
        function=LOGS,
    ),
    Operation(
        "add_logs_to_dataset",
        "POST",
        "/envs/{env}/datasets/{dataset}/logs",
        "Add logs to a dataset (a new version)",
        function=LOGS,
    ),
    Operation(
        "add_to_dataset",
        "POST",
        "/envs/{env}/datasets/{dataset}/items",
        "Add rows to a dataset (a new version)",
        function=LOGS,
    ),
    Operation(
        "remove_from_dataset",
        "DELETE",
        "/envs/{env}/datasets/{dataset}/items",
        "Remove items from a dataset (a new version)",
        function=LOGS,
    ),
    Operation(
        "list_experiments",
        "GET",
        "/envs/{env}/experiments",
        "Experiments (?dataset=, ?prompt_id=), oldest first",
        function=LOGS,
    ),
    Operation(
        "get_experiment",
        "GET",
        "/envs/{env}/experiments/{experiment_id}",
        "An experiment's header",
        function=LOGS,
    ),
    Operation(
        "delete_experiment",
        "DELETE",
        "/envs/{env}/experiments/{experiment_id}",
        "Delete an experiment (audited)",
        function=LOGS,
    ),
    Operation(
        "experiment_rows",
        "GET",
        "/envs/{env}/experiments/{experiment_id}/rows",
        "A page of an experiment's rows",
        function=LOGS,
    ),
    Operation(
        "bless_experiment",
        "POST",
        "/envs/{env}/experiments/{experiment_id}/bless",
        "Make an experiment its dataset's baseline (audited)",
        function=LOGS,
    ),
    Operation(
        "tester_notebook",
        "POST",
        "/tester-notebook",
        "Write a tester notebook",
        service=False,
    ),
    # Sign-in through Cognito's hosted UI: Lambda's own (the Jupyter server signs in its way).
    Operation(
        "login", "GET", "/auth/login", "Sign in", rest=False, function=AUTHENTICATION, service=False
    ),
    Operation(
        "callback",
        "GET",
        "/auth/callback",
        "Back from the hosted UI",
        rest=False,
        function=AUTHENTICATION,
        service=False,
    ),
    Operation(
        "refresh",
        "POST",
        "/auth/refresh",
        "Renew the tokens",
        rest=False,
        function=AUTHENTICATION,
        service=False,
    ),
    Operation(
        "logout",
        "POST",
        "/auth/logout",
        "Sign out",
        rest=False,
        function=AUTHENTICATION,
        service=False,
    ),
)


def routes_of(function: str) -> tuple[tuple[str, str], ...]:
    """The (METHOD, resource) pairs a Lambda function serves, in the table's order."""
    return tuple((op.method, op.path) for op in OPERATIONS if op.function == function)


_BY_ROUTE = {(op.method, op.path): op for op in OPERATIONS}


def operation(method: str, path: str) -> Operation:
    """The operation at ``method path`` (``KeyError`` naming it when the table lacks it)."""
    try:
        return _BY_ROUTE[(method, path)]
    except KeyError:
        raise KeyError(
            f"{method} {path} is not in the operation table (api/operations.py)"
        ) from None
