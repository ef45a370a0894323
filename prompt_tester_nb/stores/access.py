"""UserRoles, Environments and Organizations: which environments a user belongs to."""

from __future__ import annotations

from typing import Any

from ..models import Environment
from .dynamo import aws_errors, query_all


class AccessStore:
    def __init__(self, dynamodb: Any, user_roles: str, environments: str, organizations: str):
        self._db = dynamodb
        self._user_roles = user_roles
        self._environments = environments
        self._organizations = organizations

    def roles(self, user_id: str) -> list[dict[str, Any]]:
        with aws_errors("Reading your organisations"):
            return query_all(
                self._db,
                TableName=self._user_roles,
                KeyConditionExpression="#u = :u",
                ExpressionAttributeNames={"#u": "user_id"},
                ExpressionAttributeValues={":u": {"S": user_id}},
            )

    def environments_of(self, org_id: str) -> list[dict[str, Any]]:
        with aws_errors("Reading environments"):
            return query_all(
                self._db,
                TableName=self._environments,
                KeyConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "org_id"},
                ExpressionAttributeValues={":o": {"S": org_id}},
            )

    def organization_name(self, org_id: str) -> str | None:
        with aws_errors("Reading organisation"):
            items = query_all(
                self._db,
                TableName=self._organizations,
                KeyConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "org_id"},
                ExpressionAttributeValues={":o": {"S": org_id}},
            )
        return next((i.get("name") for i in items if i.get("name")), None)

    def user_environments(self, user_id: str) -> list[Environment]:
        """Every environment of every organisation the user has a role in."""
        result: list[Environment] = []
        for role in self.roles(user_id):
            org_id = role.get("org_id")
            if not org_id:
                continue
            org_name = self.organization_name(org_id)
            for env in self.environments_of(org_id):
                if not env.get("env_id"):
                    continue
                result.append(
                    Environment(
                        env_id=str(env["env_id"]),
                        env_name=str(env.get("env_name") or env["env_id"]),
                        org_id=org_id,
                        org_name=org_name,
                        role=role.get("role"),
                    )
                )
        result.sort(key=lambda e: (e.org_name or e.org_id, e.env_name))
        return result
