"""The server extension over HTTP with pytest-jupyter's jp_fetch: sign-in, every route, access."""

from __future__ import annotations

import json
import os
import stat
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from tornado.httpclient import HTTPClientError

from prompt_tester_nb.api_models import (
    BehaviourCreateBody,
    BehaviourUpdateBody,
    DatasetCreateBody,
    DatasetLogsBody,
    DatasetRemoveBody,
    DatasetRowsBody,
    IdealAnswerBody,
    OpenTestBody,
    PublishBody,
    SecretsDeleteBody,
    SecretsSetBody,
    TestBody,
    TestWithContextBody,
)
from prompt_tester_nb.behaviour_spec import BehaviourSpec
from prompt_tester_nb.models import PromptData
from prompt_tester_nb.server.api_handlers import ROUTES
from tests.conftest import password_of
from tests.support import attacks

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def session_file(tmp_path):
    return tmp_path / "handoff" / "session.json"


@pytest.fixture
def jp_server_config(stack, session_file, monkeypatch):
    for key, value in stack.environ().items():
        if not key.startswith("PROMPT_TESTER_EMAIL") and not key.startswith(
            "PROMPT_TESTER_PASSWORD"
        ):
            monkeypatch.setenv(key, value)
    return {
        "ServerApp": {
            "jpserver_extensions": {"prompt_tester_nb": True},
            "allow_unauthenticated_access": False,
        },
        "PromptTester": {"session_file": str(session_file)},
    }


async def call(jp_fetch, *parts, method="GET", body=None, cookie=None, params=None, **kw):
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        kw["body"] = json.dumps(body)
        headers["Content-Type"] = "application/json"
    elif method in ("POST", "PUT", "DELETE") and "body" not in kw:
        kw["body"] = "{}" if method != "DELETE" else None
    if method == "DELETE" and kw.get("body") is not None:
        kw["allow_nonstandard_methods"] = True
    try:
        response = await jp_fetch(*parts, method=method, headers=headers, params=params, **kw)
    except HTTPClientError as exc:
        response = exc.response
    data = (
        json.loads(response.body)
        if response.body and response.headers.get("Content-Type", "").startswith("application/json")
        else None
    )
    return response.code, data, response


async def callback(jp_fetch, params: dict[str, str], cookie: str):
    """The browser's return from the provider: ``auth/callback`` with its parameters."""
    code, _, response = await call(
        jp_fetch,
        "prompt-tester",
        "auth",
        "callback",
        params=params,
        cookie=cookie,
        follow_redirects=False,
    )
    return code, response


def cookie_of(response) -> str:
    jar = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return "; ".join(f"{k}={v.value}" for k, v in jar.items() if v.value)


async def sign_in(jp_fetch, stack, email) -> str:
    code, data, response = await call(
        jp_fetch,
        "prompt-tester",
        "auth",
        "password",
        method="POST",
        body={"email": email, "password": password_of(stack, email)},
    )
    assert code == 200, data
    assert data["email"] == email
    return cookie_of(response)


async def test_openapi_needs_only_jupyter_auth(jp_fetch, jp_base_url):
    code, doc, _ = await call(jp_fetch, "prompt-tester", "api", "openapi.json")
    assert code == 200 and doc["openapi"].startswith("3.")
    assert "/prompt-tester/api/envs/{env}/behaviours/{name}" in doc["paths"]
    assert set(doc["paths"]["/prompt-tester/api/envs/{env}/behaviours/{name}"]) == {
        "get",
        "put",
        "delete",
    }


async def until(condition, what: str, timeout_s: float = 60) -> None:
    """Waits, yielding to the event loop, until ``condition()`` holds; fails after a deadline
    that only a broken server reaches (the test never depends on how soon it holds)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:g} s"
        await asyncio.sleep(0.01)


async def test_health_reports_event_loop_lag_and_sees_a_blocked_loop(jp_fetch, jp_serverapp):
    import time

    # pytest-jupyter starts the app without the loop's start hooks; a real server runs them.
    await jp_serverapp.extension_manager.start_all_extensions()
    monitor = jp_serverapp.web_app.settings["prompt_tester_loop_lag"]
    await until(lambda: monitor.stats()["samples"] >= 5, "5 lag samples")
    code, health, _ = await call(jp_fetch, "prompt-tester", "api", "health")
    assert code == 200 and health["status"] == "ok"
    assert health["event_loop_lag"]["samples"] >= 5
    taken = monitor.stats()["samples"]
    # Blocks the server's loop (pytest-jupyter runs it in this one) while the monitor sleeps
    # in it: the next sample the monitor takes is at least this late.
    time.sleep(0.3)
    await until(lambda: monitor.stats()["samples"] > taken, "a lag sample after the block")
    _, health, _ = await call(jp_fetch, "prompt-tester", "api", "health")
    assert health["event_loop_lag"]["max_ms"] >= 250, health
    code, health, _ = await call(
        jp_fetch, "prompt-tester", "api", "health", params={"window": 3600}
    )
    assert code == 200 and health["event_loop_lag"]["samples"] > taken, health
    for bad in ("0", "-1", "x", "99999"):
        code, data, _ = await call(
            jp_fetch, "prompt-tester", "api", "health", params={"window": bad}
        )
        assert code == 400 and data["field"] == "window", (bad, data)


async def test_requests_the_stopping_server_drops_get_a_503_not_a_traceback(
    jp_fetch, jp_serverapp, stack, caplog
):
    import asyncio
    import threading
    from concurrent.futures import ThreadPoolExecutor

    class Pool(ThreadPoolExecutor):
        """Tells the test when a call is waiting in its queue."""

        def __init__(self) -> None:
            super().__init__(max_workers=1)
            self.submitted = 0
            self.queued = asyncio.Event()  # submit() runs on the loop: the handler's thread

        def submit(self, *args, **kwargs):
            future = super().submit(*args, **kwargs)
            self.submitted += 1
            if self.submitted >= 2:  # the first keeps the only worker busy
                self.queued.set()
            return future

    cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
    settings = jp_serverapp.web_app.settings
    settings["prompt_tester_executor"].shutdown(cancel_futures=True)
    gate = threading.Event()
    try:
        # queued when the pool shuts down: cancelled without running
        pool = settings["prompt_tester_executor"] = Pool()
        pool.submit(gate.wait)  # the only worker is busy until the gate opens
        queued = asyncio.ensure_future(
            call(jp_fetch, "prompt-tester", "api", "environments", cookie=cookie)
        )
        waiting = asyncio.ensure_future(pool.queued.wait())
        await asyncio.wait({queued, waiting}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        assert pool.queued.is_set(), (
            queued.result() if queued.done() else "the request reached no executor in 60 s"
        )
        pool.shutdown(wait=False, cancel_futures=True)
        gate.set()
        code, data, _ = await queued
        assert code == 503 and "stopping" in data["message"], (code, data)
        # arriving after the shutdown
        code, data, _ = await call(jp_fetch, "prompt-tester", "api", "environments", cookie=cookie)
        assert code == 503 and "stopping" in data["message"], (code, data)
        assert "Traceback" not in caplog.text
    finally:
        gate.set()
        settings["prompt_tester_executor"] = ThreadPoolExecutor(max_workers=4)


async def test_every_data_route_needs_a_cognito_session(jp_fetch):
    tried = 0
    for pattern, _handler, methods in ROUTES:
        path = (
            pattern.replace("(?P<env>[^/]+)", "env-acme-staging")
            .replace("(?P<context_id>[^/]+)", "x#1")
            .replace("(?P<prompt_id>[^/]+)", "p")
            .replace("(?P<name>[^/]+)", "default")
            .replace("(?P<dataset>[^/]+)", "refunds")
            .replace("(?P<experiment_id>[^/]+)", "20261101T120000000-0123abcd")
        )
        for method in methods:
            code, data, _ = await call(
                jp_fetch, "prompt-tester", *path.split("/"), method=method.upper()
            )
            tried += 1
            # got anything = any answer but 401 (the route ran without a Cognito session)
            attacks.record("rest", f"{method.upper()} {pattern}", "no-session", code != 401)
            assert code == 401, (method, path, code)
            assert "Sign in" in data["message"]
    code, _, _ = await call(jp_fetch, "prompt-tester", "auth", "me")
    attacks.record("rest", "GET auth/me", "no-session", code != 401)
    assert code == 401 and tried == sum(len(m) for _, _, m in ROUTES) == 34


async def test_no_jupyter_token_no_access(jp_serverapp, http_server_client, jp_base_url):
    for tail in (
        "prompt-tester/api/openapi.json",
        "prompt-tester/auth/me",
        "prompt-tester/api/environments",
    ):
        response = await http_server_client.fetch(
            f"{jp_base_url}{tail}", raise_error=False, follow_redirects=False
        )
        attacks.record(
            "rest", f"GET {tail}", "no-jupyter-token", response.code not in (302, 401, 403)
        )
        assert response.code in (302, 401, 403), (tail, response.code)


async def test_the_polled_sign_in_state_is_a_200_either_way(jp_fetch, stack, session_file):
    """The status bar polls ``auth/me?optional=1``: signed out is a normal state, no 401."""
    code, state, _ = await call(jp_fetch, "prompt-tester", "auth", "me", params={"optional": "1"})
    assert code == 200 and state["signed_in"] is False
    assert set(state["kernel"]) == {"email", "source"}  # whom the kernels use instead
    code, _, _ = await call(jp_fetch, "prompt-tester", "auth", "me")
    assert code == 401  # without ``optional`` the REST contract is unchanged
    cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
    code, state, _ = await call(
        jp_fetch, "prompt-tester", "auth", "me", params={"optional": "1"}, cookie=cookie
    )
    assert code == 200 and state["signed_in"] is True
    assert state["email"] == "alice@acme.example" and state["sub"] and state["expires_at"]


async def test_every_operation_over_rest(jp_fetch, stack, session_file, unique):
    cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
    assert stat.S_IMODE(os.stat(session_file).st_mode) == 0o600
    code, me, _ = await call(jp_fetch, "prompt-tester", "auth", "me", cookie=cookie)
    assert code == 200 and set(me) == {"email", "sub", "expires_at"}
    code, envs, _ = await call(jp_fetch, "prompt-tester", "api", "environments", cookie=cookie)
    assert {e["env_id"] for e in envs} == {"env-acme-staging", "env-acme-prod"}
    base = ("prompt-tester", "api", "envs", "staging")
    code, page, _ = await call(jp_fetch, *base, "logs", cookie=cookie, params={"limit": "5"})
    assert code == 200 and len(page["items"]) == 5 and page["next_cursor"]
    code, page2, _ = await call(
        jp_fetch, *base, "logs", cookie=cookie, params={"limit": "5", "cursor": page["next_cursor"]}
    )
    assert code == 200 and page2["items"][0]["timestamp"] <= page["items"][-1]["timestamp"]
    code, err, _ = await call(jp_fetch, *base, "logs", cookie=cookie, params={"limit": "5000"})
    assert code == 400 and err["field"] == "limit"
    entry = next(i for i in page["items"] if i["version"])
    code, log, _ = await call(jp_fetch, *base, "logs", entry["context_id"], cookie=cookie)
    assert code == 200 and log["context"] == entry["context"]
    code, prompts, _ = await call(jp_fetch, *base, "prompts", cookie=cookie)
    assert entry["prompt_id"] in prompts
    code, versions, _ = await call(
        jp_fetch, *base, "prompts", entry["prompt_id"], "versions", cookie=cookie
    )
    assert code == 200 and len(versions) >= 2
    code, prompt, _ = await call(
        jp_fetch,
        *base,
        "prompts",
        entry["prompt_id"],
        cookie=cookie,
        params={"version": versions[-1]},
    )
    assert prompt["version"] == versions[-1]
    code, draft, _ = await call(
        jp_fetch,
        *base,
        "open-test",
        method="POST",
        body={"context_id": entry["context_id"]},
        cookie=cookie,
    )
    assert code == 200 and draft["context_data"] == entry["context"]
    code, result, _ = await call(
        jp_fetch,
        *base,
        "test",
        method="POST",
        cookie=cookie,
        body={
            "prompt_data": draft["prompt_data"],
            "context_data": draft["context_data"],
            "behaviour": "default",
        },
    )
    assert (
        code == 200
        and result["content"].strip()  # whichever family the newest log is of
        and result["model"] == "azure/westus/gpt-4-turbo"
    )
    code, err, _ = await call(
        jp_fetch,
        *base,
        "test",
        method="POST",
        cookie=cookie,
        body={"prompt_data": {"prompt_id": "x", "chats": []}, "context_data": {}},
    )
    assert code == 400 and err["field"] == "prompt_data.chats"
    # behaviours
    name = f"rest-{unique}"
    spec = {
        "attempts": [
            {
                "ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 1000},
                "weight": 5,
            }
        ]
    }
    code, created, _ = await call(
        jp_fetch,
        *base,
        "behaviours",
        method="POST",
        cookie=cookie,
        body={"name": name, "spec": spec},
    )
    assert code == 201 and created["version"] == 1
    code, _, _ = await call(
        jp_fetch,
        *base,
        "behaviours",
        method="POST",
        cookie=cookie,
        body={"name": name, "spec": spec},
    )
    assert code == 409
    code, err, _ = await call(
        jp_fetch,
        *base,
        "behaviours",
        method="POST",
        cookie=cookie,
        body={"name": "x", "spec": {"attempts": []}},
    )
    assert code == 400 and err["field"] == "spec.attempts"
    code, updated, _ = await call(
        jp_fetch,
        *base,
        "behaviours",
        name,
        method="PUT",
        cookie=cookie,
        body={"spec": spec, "version": 1},
    )
    assert code == 200 and updated["version"] == 2
    code, err, _ = await call(
        jp_fetch,
        *base,
        "behaviours",
        name,
        method="PUT",
        cookie=cookie,
        body={"spec": spec, "version": 1},
    )
    assert code == 409 and "version 2" in err["message"]
    code, listed, _ = await call(jp_fetch, *base, "behaviours", cookie=cookie)
    assert name in [b["name"] for b in listed]
    code, _, _ = await call(
        jp_fetch, *base, "behaviours", name, method="DELETE", cookie=cookie, params={"version": "2"}
    )
    assert code == 204
    code, _, _ = await call(jp_fetch, *base, "behaviours", name, cookie=cookie)
    assert code == 404
    # secrets: values go in, status comes out
    secret = f"sk-rest-{unique}-abcdefghijkl"
    code, status, response = await call(
        jp_fetch,
        *base,
        "secrets",
        method="PUT",
        cookie=cookie,
        body={"keys": {"OPENAI_ORG": secret}},
    )
    assert code == 200 and secret.encode() not in response.body
    assert {s["name"]: s for s in status}["OPENAI_ORG"]["hint"] == "…ijkl"
    code, status, response = await call(jp_fetch, *base, "secrets", cookie=cookie)
    assert secret.encode() not in response.body
    code, status, _ = await call(
        jp_fetch, *base, "secrets", method="DELETE", cookie=cookie, body={"names": ["OPENAI_ORG"]}
    )
    assert code == 200 and not {s["name"]: s for s in status}["OPENAI_ORG"]["is_set"]
    code, err, _ = await call(
        jp_fetch, *base, "secrets", method="PUT", cookie=cookie, body={"keys": {"NOPE": "x"}}
    )
    assert code == 400 and err["field"] == "NOPE"
    # the deep-link notebook
    code, made, _ = await call(
        jp_fetch,
        "prompt-tester",
        "api",
        "tester-notebook",
        method="POST",
        cookie=cookie,
        body={"context_id": entry["context_id"], "version": versions[-1]},
    )
    assert (
        code == 200
        and made["env_id"] == "env-acme-staging"
        and made["path"].startswith("prompt-tester/")
    )
    code, content, _ = await call(jp_fetch, "api", "contents", *made["path"].split("/"))
    source = "".join(c["source"] for c in content["content"]["cells"])
    assert (
        repr(entry["context_id"]) in source
        and repr(versions[-1]) in source
        and "pt.app(session" in source
    )


_SPEC = {
    "attempts": [{"ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 500}}]
}
_DRAFT = {
    "prompt_id": "support-reply",
    "chats": [{"role": "user", "content": "Hello {customer_name}"}],
}
# One valid body per request model of the env routes: a write by another organisation must be
# refused by the access check, not by body validation.
VALID_BODIES = {
    OpenTestBody: {"context_id": "support-reply#1"},
    TestBody: {"prompt_data": _DRAFT, "context_data": {"customer_name": "Ada"}},
    TestWithContextBody: {"context_id": "support-reply#1", "behaviour": "default"},
    BehaviourCreateBody: {"name": "mallorys", "spec": _SPEC},
    BehaviourUpdateBody: {"spec": _SPEC, "version": 1},
    SecretsSetBody: {"keys": {"OPENAI_ORG": "org-mallory"}},
    IdealAnswerBody: {"ideal_answer": "Mallory's ideal answer"},
    SecretsDeleteBody: {"names": ["OPENAI_API_KEY"]},
    DatasetCreateBody: {"name": "mallorys"},
    DatasetLogsBody: {"context_ids": ["support-reply#1"]},
    DatasetRowsBody: {"rows": [{"context": {}, "prompt_id": "p"}]},
    DatasetRemoveBody: {"item_ids": ["x"]},
    PublishBody: {"prompt_data": _DRAFT, "gate": "20261101T120000000-0123abcd"},
}
PromptData.model_validate(_DRAFT)  # the nested parts are valid too
BehaviourSpec.model_validate(_SPEC)


async def test_another_users_session_sees_nothing_of_the_first(jp_fetch, stack):
    cookie = await sign_in(jp_fetch, stack, "mallory@globex.example")
    code, envs, _ = await call(jp_fetch, "prompt-tester", "api", "environments", cookie=cookie)
    assert [e["env_id"] for e in envs] == ["env-globex-prod"]
    denied = 0
    for env in ("env-acme-staging", "env-acme-prod", "staging"):
        for pattern, _handler, methods in ROUTES:
            if "(?P<env>" not in pattern:
                continue
            path = (
                pattern.replace("(?P<env>[^/]+)", env)
                .replace("(?P<context_id>[^/]+)", "support-reply#1")
                .replace("(?P<prompt_id>[^/]+)", "support-reply")
                .replace("(?P<name>[^/]+)", "default")
                .replace("(?P<dataset>[^/]+)", "refunds")
                .replace("(?P<experiment_id>[^/]+)", "20261101T120000000-0123abcd")
            )
            for method, (_summary, body_model, _response) in methods.items():
                # A valid body, so a write reaches the access check and a 400 cannot pass
                if method == "delete" and "secrets" in path:  # its body is read by the handler
                    body_model = SecretsDeleteBody
                body = VALID_BODIES[body_model] if body_model is not None else None
                if body is not None:
                    body_model.model_validate(body)
                code, data, response = await call(
                    jp_fetch,
                    "prompt-tester",
                    *path.split("/"),
                    method=method.upper(),
                    cookie=cookie,
                    body=body,
                )
                denied += 1
                # got anything = not refused, or anything of Acme's in the answer
                attacks.record(
                    "rest",
                    f"{method.upper()} {pattern}",
                    "other-org",
                    code not in (403, 404) or b"acme" in response.body.replace(env.encode(), b""),
                    env,
                )
                # only a refusal counts: a 400 would mean the access check was never reached
                assert code in (403, 404), (method, path, code, data)
                assert b"acme" not in response.body.replace(env.encode(), b"")
    assert denied > 30
    code, _, _ = await call(
        jp_fetch,
        "prompt-tester",
        "api",
        "tester-notebook",
        method="POST",
        cookie=cookie,
        body={"context_id": "support-reply#1"},
    )
    attacks.record("rest", "POST api/tester-notebook", "other-org", code != 404, "Acme's log")
    assert code == 404


async def test_forged_session_cookie_is_refused(jp_fetch):
    targets = [("get", "auth/me")] + [
        (method, pattern) for pattern, _handler, methods in ROUTES for method in methods
    ]
    for detail, cookie in (
        ("unsigned", "prompt-tester-session=abc"),
        (
            "bad signature",
            'prompt-tester-session="2|1:0|10:1|21:prompt-tester-session|8:YWJjZA==|deadbeef"',
        ),
    ):
        for method, pattern in targets:
            path = (
                pattern.replace("(?P<env>[^/]+)", "env-acme-staging")
                .replace("(?P<context_id>[^/]+)", "support-reply#1")
                .replace("(?P<prompt_id>[^/]+)", "support-reply")
                .replace("(?P<name>[^/]+)", "default")
                .replace("(?P<dataset>[^/]+)", "refunds")
                .replace("(?P<experiment_id>[^/]+)", "20261101T120000000-0123abcd")
            )
            code, _, _ = await call(
                jp_fetch, "prompt-tester", *path.split("/"), method=method.upper(), cookie=cookie
            )
            # got anything = any answer but 401
            attacks.record(
                "rest", f"{method.upper()} {pattern}", "forged-cookie", code != 401, detail
            )
            assert code == 401, (method, path, code)


async def test_hosted_ui_sign_in_with_pkce_state_and_nonce(
    jp_fetch, jp_base_url, stack, session_file
):
    next_url = f"{jp_base_url}lab?context_id=x"
    code, _, response = await call(
        jp_fetch,
        "prompt-tester",
        "auth",
        "login",
        params={"next": next_url},
        follow_redirects=False,
    )
    assert code == 302
    location = response.headers["Location"]
    login_cookie = cookie_of(response)
    authorize = urlparse(location)
    q = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert location.startswith(stack.hosted_ui.url + "/oauth2/authorize")
    assert (
        q["code_challenge_method"] == "S256" and q["state"] and q["nonce"] and q["code_challenge"]
    )
    # the hosted page, then the user's credentials
    page = requests.get(location, timeout=60)
    assert page.status_code == 200 and "hosted-signin" in page.text
    form = {
        **{
            k: q.get(k, "")
            for k in (
                "client_id",
                "redirect_uri",
                "state",
                "nonce",
                "code_challenge",
                "code_challenge_method",
                "scope",
            )
        },
        "username": "bob@acme.example",
        "password": "wrong",
    }
    assert "Incorrect" in requests.post(stack.hosted_ui.url + "/login", data=form, timeout=60).text
    form["password"] = password_of(stack, "bob@acme.example")
    back = requests.post(
        stack.hosted_ui.url + "/login", data=form, timeout=60, allow_redirects=False
    )
    assert back.status_code == 302
    returned = urlparse(back.headers["Location"])
    params = {k: v[0] for k, v in parse_qs(returned.query).items()}
    # a callback with a wrong state fails
    code, response = await callback(jp_fetch, {**params, "state": "forged"}, login_cookie)
    attacks.record("rest", "GET auth/callback", "forged-state", code != 401 or cookie_of(response))
    assert code == 401 and b"does not belong" in response.body
    # the right one (the wrong attempt above consumed nothing of it)
    code, response = await callback(jp_fetch, params, login_cookie)
    assert code == 302 and response.headers["Location"] == next_url
    session_cookie = cookie_of(response)
    code, me, _ = await call(jp_fetch, "prompt-tester", "auth", "me", cookie=session_cookie)
    assert code == 200 and me["email"] == "bob@acme.example"
    # replaying the same callback fails
    code, response = await callback(jp_fetch, params, login_cookie)
    attacks.record(
        "rest", "GET auth/callback", "replayed-callback", code != 401 or cookie_of(response)
    )
    assert code == 401
    # the kernel side: pt.connect() with no arguments uses the handed-over session, verified
    import prompt_tester_nb as pt
    from prompt_tester_nb.service import PromptTesterService

    # The kernel's Settings name the same session file the server was configured with.
    service = PromptTesterService(
        stack.settings.model_copy(update={"session_file": str(session_file)})
    )
    s = pt.connect(env="staging", service=service)
    assert s.user.email == "bob@acme.example"
    data = json.loads(session_file.read_text())
    forged = data["id_token"][:-8] + ("A" * 8)
    session_file.write_text(json.dumps({**data, "id_token": forged, "refresh_token": None}))
    target = "pt.connect() session file"
    with attacks.refused(
        "kernel", target, "forged-token", pt.AuthenticationError, "signature bytes changed"
    ):
        pt.connect(env="staging", service=service)
    session_file.write_text(json.dumps(data))
    os.chmod(session_file, 0o644)  # readable by others: not used
    with attacks.refused("kernel", target, "loose-file-mode", pt.AuthenticationError, "mode 0644"):
        pt.connect(env="staging", service=service)
    os.chmod(session_file, 0o600)
    # sign out: revoked at the hosted UI, session gone, handoff removed
    refresh = data["refresh_token"]
    code, _, _ = await call(
        jp_fetch, "prompt-tester", "auth", "logout", method="POST", body={}, cookie=session_cookie
    )
    assert code == 204
    assert stack.hosted_ui.is_revoked(refresh)
    assert not session_file.exists()
    code, _, _ = await call(jp_fetch, "prompt-tester", "auth", "me", cookie=session_cookie)
    attacks.record("rest", "GET auth/me", "signed-out-session", code != 401)
    assert code == 401


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/x",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "/other-server/lab",
    ],
)
async def test_next_never_leaves_this_server(jp_fetch, jp_base_url, jp_serverapp, target):
    code, _, response = await call(
        jp_fetch, "prompt-tester", "auth", "login", params={"next": target}, follow_redirects=False
    )
    assert code == 302
    state = parse_qs(urlparse(response.headers["Location"]).query)["state"][0]
    # the pending sign-in remembers a safe next: the server's own lab
    sessions = jp_serverapp.web_app.settings["prompt_tester_sessions"]
    pending = sessions.finish_login(state)
    attacks.record(
        "rest",
        "GET auth/login?next=",
        "open-redirect",
        pending is None or pending.next_url != f"{jp_base_url}lab",
        target,
    )
    assert pending is not None and pending.next_url == f"{jp_base_url}lab"
    code, _, response = await call(
        jp_fetch, "prompt-tester", "auth", "password", params={"next": target}
    )
    assert code == 200
    body = response.body.decode()
    # got anything = the form would send the browser anywhere but this server's lab
    attacks.record(
        "rest",
        "GET auth/password?next=",
        "open-redirect",
        "evil.example" in body or f'value="{jp_base_url}lab"' not in body,
        target,
    )
    assert "evil.example" not in body and f'value="{jp_base_url}lab"' in body


async def test_an_ideal_answer_from_a_differing_test_is_409_over_rest(
    jp_fetch, stack, service, alice, unique
):
    """The service's ideal-answer rule over REST: ``from_test`` is held to the log's context,
    version and chats; a differing one is 409 naming what differs unless forced with a
    reason; nothing is saved by a refusal."""
    from tests.integration.test_ideal import BASE_TS, _put_log

    own = _put_log(service, "env-acme-staging", f"rest-guard-{unique}", BASE_TS + 6)
    logged = alice.log(own)
    cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
    path = ("prompt-tester", "api", "envs", "staging", "logs", own, "ideal-answer")
    same = {"context": logged.context, "version": "1", "chats": logged.prompt["chats"]}

    async def put(body):
        return await call(jp_fetch, *path, method="PUT", cookie=cookie, body=body)

    code, data, _ = await put({"ideal_answer": "same inputs", "from_test": same})
    assert code == 200 and data["ideal_answer"] == "same inputs"
    other = {**same, "context": {"q": "another question"}}
    code, data, _ = await put({"ideal_answer": "other", "from_test": other})
    assert code == 409 and "The context differs from the log's" in data["message"], data
    assert "q 'another question'" in data["message"]
    code, data, _ = await put({"ideal_answer": "v3", "from_test": {**same, "version": "3"}})
    assert code == 409 and "The prompt version differs: 3 (log: 1)" in data["message"]
    for body, field in (
        ({"ideal_answer": "x", "from_test": other, "force": True}, "reason"),
        ({"ideal_answer": "x", "from_test": {"context": "q"}}, "from_test.context"),
        ({"ideal_answer": "x", "force": "true", "reason": "r"}, "force"),
    ):
        code, data, _ = await put(body)
        assert code == 400 and data["field"] == field, (body, code, data)
    assert alice.log(own).ideal_answer == "same inputs"
    body = {"ideal_answer": "other", "from_test": other, "force": True, "reason": "checked"}
    code, data, _ = await put(body)
    assert code == 200 and data["ideal_answer"] == "other"
    event = next(e for e in alice.audit(limit=20) if e.target == own)
    assert event.details["forced"] is True and event.details["differs"] == ["context"]


def test_urlencode_sanity():
    assert urlencode({"next": "/lab?x=1"}) == "next=%2Flab%3Fx%3D1"


async def test_ideal_answer_over_rest(jp_fetch, stack, service, alice, unique):
    """PUT …/logs/{context_id}/ideal-answer: through the flow-prompt API (the stand-in),
    answers the log; the service's checks give 400/404/403 naming what is wrong."""
    from tests.integration.test_ideal import BASE_TS, _put_log

    own = _put_log(service, "env-acme-staging", f"rest-ideal-{unique}", BASE_TS + 5)
    cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
    base = ("prompt-tester", "api", "envs", "staging", "logs")
    code, data, _ = await call(
        jp_fetch, *base, own, "ideal-answer", method="PUT", cookie=cookie,
        body={"ideal_answer": "over <rest>"},
    )  # fmt: skip
    assert code == 200 and data["context_id"] == own and data["ideal_answer"] == "over <rest>"
    assert alice.log(own).ideal_answer == "over <rest>"
    code, data, _ = await call(jp_fetch, *base, own, cookie=cookie)
    assert code == 200 and data["ideal_answer"] == "over <rest>"
    for body, field in (({}, "ideal_answer"), ({"ideal_answer": "  "}, "ideal_answer"),
                        ({"ideal_answer": 3}, "ideal_answer")):  # fmt: skip
        code, data, _ = await call(
            jp_fetch, *base, own, "ideal-answer", method="PUT", cookie=cookie, body=body
        )
        assert code == 400 and data["field"] == field, (body, code, data)
    code, _, _ = await call(
        jp_fetch, *base, own.replace("#", "#9"), "ideal-answer", method="PUT", cookie=cookie,
        body={"ideal_answer": "x"},
    )  # fmt: skip
    assert code == 404
    mallory = await sign_in(jp_fetch, stack, "mallory@globex.example")
    code, _, response = await call(
        jp_fetch, *base, own, "ideal-answer", method="PUT", cookie=mallory,
        body={"ideal_answer": "mine"},
    )  # fmt: skip
    attacks.record("rest", "PUT ideal-answer", "other-org", code != 403, "a body that passes")
    assert code == 403 and b"over <rest>" not in response.body
    assert alice.log(own).ideal_answer == "over <rest>"
