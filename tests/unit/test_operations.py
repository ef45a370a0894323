"""The one operation table (``api/operations.py``) holds the web API's two adapters: the REST
routes take their summaries from it and are checked here to be exactly its REST rows (so is
the OpenAPI document made from them); the Lambda functions' routes are built from it (and
``test_lambda_deploy`` holds the SAM template's events to those). No stack: the tables are
read, nothing is served."""

from __future__ import annotations

import re

from prompt_tester_nb.api.operations import OPERATIONS
from prompt_tester_nb.aws_lambda.routes import FUNCTIONS
from prompt_tester_nb.server.api_handlers import ROUTES
from prompt_tester_nb.server.openapi import build
from prompt_tester_nb.service import PromptTesterService

REST = {(op.method, op.path): op.summary for op in OPERATIONS if op.rest}


def _resource(pattern: str) -> str:
    """A REST route's pattern as the table writes its path: ``/envs/{env}/logs``."""
    return "/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern).removeprefix("api/")


def test_each_operation_is_named_once_and_routed_once():
    assert len({op.name for op in OPERATIONS}) == len(OPERATIONS)
    assert len({(op.method, op.path) for op in OPERATIONS}) == len(OPERATIONS)
    assert all(op.rest or op.function for op in OPERATIONS)


def test_the_rest_routes_are_the_tables_rest_operations():
    served = {
        (method.upper(), _resource(pattern)): summary
        for pattern, _, methods in ROUTES
        for method, (summary, _, _) in methods.items()
    }
    assert served == REST


def test_the_openapi_document_lists_the_tables_rest_operations():
    paths = build("/")["paths"]
    documented = {
        (method.upper(), path.removeprefix("/prompt-tester/api")): op["summary"]
        for path, item in paths.items()
        for method, op in item.items()
    }
    assert documented == REST


def test_the_lambda_functions_serve_the_tables_lambda_operations():
    served = {route: f.logical_id for f in FUNCTIONS for route in f.routes}
    assert served == {(op.method, op.path): op.function for op in OPERATIONS if op.function}
    assert {f.logical_id for f in FUNCTIONS} == {op.function for op in OPERATIONS if op.function}


def test_each_service_operation_is_a_door_of_the_service():
    for op in OPERATIONS:
        if op.service:
            assert callable(getattr(PromptTesterService, op.name, None)), op.name
