"""Experiments over the web API: the Jupyter server's REST routes (jp_fetch) and the
LogsRetrievalFunction through the local gateway, both from the one operation table. They
read, bless and delete; storing is Python's (a replay never runs behind a request)."""

from __future__ import annotations

import json

from tests.integration.test_lambda_gateway import alice_token, gateway, mallory_token  # noqa: F401
from tests.integration.test_lambda_gateway import call as gw_call
from tests.integration.test_server import call, jp_server_config, session_file, sign_in  # noqa: F401
from tests.support.experiments_support import store_saved_run

pytest_plugins = ["pytest_jupyter.jupyter_server"]


async def test_experiments_over_rest(jp_fetch, stack, alice, unique):
    dataset = f"rest-exp-{unique}"
    stored = store_saved_run(alice, "over rest", dataset)
    cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
    base = ("prompt-tester", "api", "envs", "staging", "experiments")
    code, data, _ = await call(jp_fetch, *base, cookie=cookie, params={"dataset": dataset})
    assert code == 200 and [e["experiment_id"] for e in data] == [stored.experiment_id]
    code, data, _ = await call(jp_fetch, *base, stored.experiment_id, cookie=cookie)
    assert code == 200 and (data["name"], data["rows"]) == ("over rest", stored.rows)
    # the rows come a page at a time, the run's header line with each
    rows = (*base, stored.experiment_id, "rows")
    code, first, _ = await call(jp_fetch, *rows, cookie=cookie, params={"limit": "5"})
    assert code == 200 and len(first["rows"]) == 5 and first["next_offset"] == 5
    assert first["run"]["format"] == "prompt-tester-nb/replay" and first["total"] == stored.rows
    code, rest, _ = await call(jp_fetch, *rows, cookie=cookie, params={"limit": "5", "offset": "5"})
    assert len(rest["rows"]) == stored.rows - 5 and rest["next_offset"] is None
    code, data, _ = await call(jp_fetch, *rows, cookie=cookie, params={"limit": "0"})
    assert code == 400 and data["field"] == "limit"
    code, data, _ = await call(
        jp_fetch, *base, stored.experiment_id, "bless", method="POST", cookie=cookie
    )
    assert code == 200 and data["blessed"] is True
    code, data, _ = await call(jp_fetch, *base, f"nothing-{unique}", cookie=cookie)
    assert code == 404 and f"nothing-{unique}" in data["message"]
    code, _, _ = await call(jp_fetch, *base, stored.experiment_id, method="DELETE", cookie=cookie)
    assert code == 204
    code, _, _ = await call(jp_fetch, *base, stored.experiment_id, cookie=cookie)
    assert code == 404
    response = await jp_fetch("prompt-tester", "api", "openapi.json")
    paths = json.loads(response.body)["paths"]
    one = "/prompt-tester/api/envs/{env}/experiments/{experiment_id}"
    assert {"get", "delete"} <= set(paths[one]) and "post" in paths[f"{one}/bless"]
    assert "get" in paths[f"{one}/rows"]


def test_experiments_through_the_lambda_gateway(
    gateway,  # noqa: F811
    alice,
    alice_token,  # noqa: F811
    mallory_token,  # noqa: F811
    unique,
):
    stored = store_saved_run(alice, "over lambda", f"gw-exp-{unique}")
    base = f"/envs/{alice.env.env_id}/experiments"
    one = f"{base}/{stored.experiment_id}"
    r = gw_call(gateway, "GET", base, alice_token, params={"dataset": f"gw-exp-{unique}"})
    assert r.status_code == 200 and [e["name"] for e in r.json()] == ["over lambda"]
    r = gw_call(gateway, "GET", f"{one}/rows", alice_token, params={"limit": "3"})
    assert r.status_code == 200 and len(r.json()["rows"]) == 3 and r.json()["next_offset"] == 3
    r = gw_call(gateway, "GET", f"{one}/rows", alice_token, params={"limit": "99999"})
    assert r.status_code == 400 and r.json()["field"] == "limit"
    for method, path in (("GET", one), ("POST", f"{one}/bless"), ("DELETE", one)):
        r = gw_call(gateway, method, path, mallory_token)
        assert r.status_code == 403, (method, path)
    r = gw_call(gateway, "POST", f"{one}/bless", alice_token)
    assert r.status_code == 200 and r.json()["blessed"] is True
    r = gw_call(gateway, "DELETE", one, alice_token)
    assert r.status_code == 204
    r = gw_call(gateway, "GET", one, alice_token)
    assert r.status_code == 404
    events = {(e.action, e.target) for e in alice.audit(limit=50)}
    assert ("experiment.delete", stored.experiment_id) in events
