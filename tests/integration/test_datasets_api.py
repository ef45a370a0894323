"""Datasets over the web API: the Jupyter server's REST routes (jp_fetch) and the
LogsRetrievalFunction through the local gateway, both from the one operation table."""

from __future__ import annotations

from urllib.parse import quote

from tests.integration.test_lambda_gateway import alice_token, gateway, mallory_token  # noqa: F401
from tests.integration.test_lambda_gateway import call as gw_call
from tests.integration.test_server import call, jp_server_config, session_file, sign_in  # noqa: F401

pytest_plugins = ["pytest_jupyter.jupyter_server"]


async def test_datasets_over_rest(jp_fetch, stack, alice, unique):
    cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
    base = ("prompt-tester", "api", "envs", "staging", "datasets")
    name = f"rest-{unique}"
    code, data, _ = await call(
        jp_fetch, *base, method="POST", cookie=cookie, body={"name": name, "description": "d"}
    )
    assert code == 201 and (data["name"], data["version"]) == (name, 0)
    code, data, _ = await call(jp_fetch, *base, method="POST", cookie=cookie, body={"name": name})
    assert code == 409
    logs = [e for e in alice.logs(limit=50, source="production").items if e.context][:2]
    code, data, _ = await call(
        jp_fetch, *base, name, "logs", method="POST", cookie=cookie,
        body={"context_ids": [e.context_id for e in logs], "expected": "production"},
    )  # fmt: skip
    assert code == 200 and (data["version"], data["added"]) == (1, 2)
    code, data, _ = await call(
        jp_fetch, *base, name, "items", method="POST", cookie=cookie,
        body={"rows": [{"context": {"q": "hi"}, "prompt_id": "p"}]},
    )  # fmt: skip
    assert code == 200 and data["version"] == 2 and len(data["items"]) == 3
    gone = data["items"][0]["item_id"]
    code, data, _ = await call(
        jp_fetch, *base, name, "items", method="DELETE", cookie=cookie, body={"item_ids": [gone]}
    )
    assert code == 200 and (data["version"], data["removed"]) == (3, 1)
    code, data, _ = await call(jp_fetch, *base, f"{name}@1", cookie=cookie)
    assert code == 200 and data["version"] == 1 and len(data["items"]) == 2
    code, data, _ = await call(jp_fetch, *base, cookie=cookie)
    assert code == 200 and name in {d["name"] for d in data}
    # items come a page at a time (a Lambda answer holds at most 6 MB)
    code, first, _ = await call(jp_fetch, *base, name, cookie=cookie, params={"limit": "1"})
    assert code == 200 and len(first["items"]) == 1 and first["next_offset"] == 1
    code, rest, _ = await call(
        jp_fetch, *base, name, cookie=cookie, params={"limit": "5", "offset": "1"}
    )
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    code, data, _ = await call(jp_fetch, *base, name, cookie=cookie, params={"limit": "0"})
    assert code == 400 and data["field"] == "limit"
    for body, field in (
        ({"rows": [{"context": [], "prompt_id": "p"}]}, "rows[0].context"),
        ({"rows": [{"context": {}}]}, "rows[0].prompt_id"),
    ):
        code, data, _ = await call(
            jp_fetch, *base, name, "items", method="POST", cookie=cookie, body=body
        )
        assert code == 400 and data["field"] == field, data
    code, _, _ = await call(jp_fetch, *base, f"{name}@9", cookie=cookie)
    assert code == 404
    mallory = await sign_in(jp_fetch, stack, "mallory@globex.example")
    code, _, response = await call(
        jp_fetch, "prompt-tester", "api", "envs", "env-acme-staging", "datasets", name,
        cookie=mallory,
    )  # fmt: skip
    assert code == 403 and name.encode() not in response.body
    code, _, _ = await call(jp_fetch, *base, name, method="DELETE", cookie=cookie)
    assert code == 204
    code, _, _ = await call(jp_fetch, *base, name, cookie=cookie)
    assert code == 404


async def test_datasets_are_in_the_openapi_document(jp_fetch):
    import json

    response = await jp_fetch("prompt-tester", "api", "openapi.json")
    paths = json.loads(response.body)["paths"]
    assert {"get", "post"} <= set(paths["/prompt-tester/api/envs/{env}/datasets"])
    assert {"post", "delete"} <= set(
        paths["/prompt-tester/api/envs/{env}/datasets/{dataset}/items"]
    )


def test_datasets_through_the_lambda_gateway(gateway, alice_token, mallory_token, unique):  # noqa: F811
    base = "/envs/env-acme-staging/datasets"
    name = f"gw-{unique}"
    r = gw_call(gateway, "POST", base, alice_token, json={"name": name})
    assert r.status_code == 201, r.text
    r = gw_call(
        gateway, "POST", f"{base}/{name}/items", alice_token,
        json={"rows": [{"context": {"q": "a"}, "prompt_id": "p"}]},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["version"] == 1
    r = gw_call(gateway, "GET", f"{base}/{quote(name + '@0')}", alice_token)
    assert r.status_code == 200 and r.json()["items"] == []
    r = gw_call(gateway, "GET", f"{base}/{name}", alice_token, params={"limit": "1"})
    assert r.status_code == 200 and len(r.json()["items"]) == 1 and r.json()["next_offset"] is None
    r = gw_call(gateway, "GET", f"{base}/{name}", alice_token, params={"limit": "9999"})
    assert r.status_code == 400 and r.json()["field"] == "limit"
    r = gw_call(gateway, "GET", f"{base}/{name}", mallory_token)
    assert r.status_code == 403
    r = gw_call(gateway, "GET", f"{base}/nothing-{unique}", alice_token)
    assert r.status_code == 404
    r = gw_call(gateway, "DELETE", f"{base}/{name}", alice_token)
    assert r.status_code == 204
