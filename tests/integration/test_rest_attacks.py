"""Attacks on the REST side that test_server.py does not make: cross-site requests from a
browser that holds cookies, tampered cursors over HTTP, a sentinel provider key searched for
in every response and every DEBUG log line, crafted tokens in the session file handed to
kernels, and crafted API tokens at the flow-prompt log API. Each attempt is counted in the
attack matrix (tests/support/attacks.py)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import time
from http.cookies import SimpleCookie
from urllib.parse import quote, urlencode

import jwt
import requests

import prompt_tester_nb as pt
from prompt_tester_nb import redaction
from prompt_tester_nb.server.api_handlers import ROUTES
from prompt_tester_nb.server.tester_notebook import SETTINGS_KEY as RUN_PROOFS
from tests.conftest import password_of
from tests.integration.test_ideal import BASE_TS, _put_log
from tests.integration.test_server import (  # noqa: F401 (fixtures)
    call,
    cookie_of,
    jp_server_config,
    session_file,
    sign_in,
)
from tests.support import attacks
from tests.support.experiments_support import store_saved_run

pytest_plugins = ["pytest_jupyter.jupyter_server"]

SPEC = {
    "attempts": [{"ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 1000}}]
}
STATE_CHANGING = sorted(
    (method, pattern) for pattern, _h, methods in ROUTES for method in methods if method != "get"
)


def _path(pattern: str, **values: str) -> str:
    for name, value in values.items():
        pattern = pattern.replace(f"(?P<{name}>[^/]+)", value)
    return pattern


# --------------------------------------------------------------------------- XSRF


class Browser:
    """Cookies as a browser keeps them for one server, over pytest-jupyter's plain client
    (no token header: jupyter_server skips its XSRF check for token-authenticated calls)."""

    def __init__(self, client, base_url: str):
        self.client, self.base_url, self.jar = client, base_url, {}
        self.set_cookies: list[str] = []

    async def fetch(self, tail: str, method="GET", body=None, headers=None, params=None, jar=None):
        url = self.base_url + tail + ("?" + urlencode(params) if params else "")
        sent = dict(headers or {})
        cookies = self.jar if jar is None else jar
        if cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        kw = {}
        if body is not None:
            kw["body"] = json.dumps(body)
            sent["Content-Type"] = "application/json"
        elif method in ("POST", "PUT"):
            kw["body"] = "{}"
        if method == "DELETE" and "body" in kw:
            kw["allow_nonstandard_methods"] = True
        response = await self.client.fetch(
            url, method=method, headers=sent, raise_error=False, follow_redirects=False, **kw
        )
        self.set_cookies = response.headers.get_list("Set-Cookie")
        if jar is None:
            for header in self.set_cookies:
                parsed = SimpleCookie()
                parsed.load(header)
                for name, morsel in parsed.items():
                    if morsel.value and morsel["max-age"] != "0":
                        self.jar[name] = morsel.value
                    else:
                        self.jar.pop(name, None)
        return response

    def morsel(self, name: str):
        for header in self.set_cookies:
            parsed = SimpleCookie()
            parsed.load(header)
            if name in parsed:
                return parsed[name]
        return None


async def _browser(http_server_client, jp_serverapp, jp_base_url) -> Browser:
    """A browser that opened JupyterLab with the token link Jupyter prints (so it holds the
    Jupyter login cookie, and from then on authenticates with cookies only) and then the
    tester's sign-in form (which hands it the _xsrf cookie)."""
    b = Browser(http_server_client, jp_base_url)
    token = jp_serverapp.identity_provider.token
    r = await b.fetch("api/status", params={"token": token})  # the link Jupyter prints
    assert r.code == 200 and any(k.startswith("username-") for k in b.jar), b.jar
    login_cookie = b.morsel(next(k for k in b.jar if k.startswith("username-")))
    assert login_cookie["httponly"]
    r = await b.fetch("api/status")  # the cookie alone authenticates
    assert r.code == 200
    r = await b.fetch("prompt-tester/auth/password")  # the sign-in form
    assert r.code == 200 and "_xsrf" in b.jar and 'name="_xsrf"' in r.body.decode()
    return b


async def test_state_changing_routes_refuse_cross_site_requests(
    http_server_client,
    jp_serverapp,
    jp_base_url,
    jp_root_dir,
    stack,
    service,
    alice,
    model,
    unique,
    session_file,  # noqa: F811 (the fixture imported above)
):
    """Cookie-authenticated like a browser: every POST/PUT/DELETE route (and sign-in, sign-out)
    without the X-XSRFToken header, with another tab's token, or from another origin is
    refused and changes nothing; the same request with the header works (so this can fail)."""
    b = await _browser(http_server_client, jp_serverapp, jp_base_url)
    xsrf = b.jar["_xsrf"]
    good = {"X-XSRFToken": xsrf}
    other = await _browser(http_server_client, jp_serverapp, jp_base_url)  # a valid token,
    assert other.jar["_xsrf"] != xsrf  # but another browser's
    variants = {
        "no-xsrf": {},  # the browser sends its cookies (the _xsrf one too), not the header
        "forged-xsrf": {"X-XSRFToken": other.jar["_xsrf"]},
        "cross-origin": {"Origin": "https://evil.example", "Referer": "https://evil.example/"},
    }
    email = "alice@acme.example"
    sign_in_body = {"email": email, "password": password_of(stack, email)}

    async def attack(target: str, method: str, tail: str, unchanged, **kw) -> None:
        """Every variant refused (403; 404 for another origin) and nothing changed."""
        for kind, headers in variants.items():
            r = await b.fetch(tail, method=method, headers=headers, **kw)
            handed_session = b.morsel("prompt-tester-session") is not None
            landed = not await unchanged()
            # got anything = not refused, a session cookie handed out, or a change landed
            refused = r.code == (404 if kind == "cross-origin" else 403)
            attacks.record(
                "rest", target, kind, not refused or handed_session or landed, f"answer {r.code}"
            )
            assert refused and not handed_session and not landed, (kind, target, r.code, r.body)

    # --- signing in (login CSRF) -------------------------------------------------------
    async def no_session() -> bool:
        return "prompt-tester-session" not in b.jar and not session_file.exists()

    await attack("POST auth/password", "POST", "prompt-tester/auth/password", no_session,
                 body=sign_in_body)  # fmt: skip
    r = await b.fetch("prompt-tester/auth/password", "POST", body=sign_in_body, headers=good)
    assert r.code == 200 and "prompt-tester-session" in b.jar  # the positive control
    session = b.morsel("prompt-tester-session")
    assert session["httponly"] and session["samesite"] == "Lax", session.OutputString()
    assert session["path"] == jp_base_url and session["max-age"] != "0"
    # the XSRF cookie is scoped to this server too, and JS may read it (it must, to send it)
    assert b.jar["_xsrf"] == xsrf
    r = await b.fetch("prompt-tester/auth/me")
    assert r.code == 200 and json.loads(r.body)["email"] == email

    # --- every state-changing data route ---------------------------------------------------
    env = "env-acme-staging"
    entry = next(i for i in alice.logs(limit=20).items if i.version and i.context)
    name = f"xsrf-{unique}"
    alice.behaviours.create(name, SPEC)
    draft = alice.open_test(entry.context_id)
    org_before = {s.name: s.model_dump() for s in alice.secrets.status()}["OPENAI_ORG"]
    assert not org_before["is_set"]
    notebooks = jp_root_dir / "prompt-tester"
    own_log = _put_log(service, env, f"xsrf-ideal-{unique}", BASE_TS + 9)

    def ideal_is(value: str | None):
        async def check() -> bool:
            return alice.log(own_log).ideal_answer == value

        return check

    def version_of(n: str) -> int | None:
        try:
            return alice.behaviours.get(n).version
        except pt.NotFoundError:
            return None

    def org_is_set() -> bool:
        return {s.name: s for s in alice.secrets.status()}["OPENAI_ORG"].is_set

    async def nothing() -> bool:
        return True

    async def no_model_call() -> bool:
        return model.requests() == []

    def behaviour_at(n: str, v: int | None):
        async def check() -> bool:
            return version_of(n) == v

        return check

    def org(is_set: bool):
        async def check() -> bool:
            return org_is_set() == is_set

        return check

    async def no_notebook() -> bool:
        return not notebooks.exists() or not any(notebooks.iterdir())

    dataset = f"xsrf-{unique}"
    alice.datasets.create(dataset)
    kept = alice.datasets.add(dataset, [{"context": {"q": "kept"}, "prompt_id": "p"}])
    kept_id = kept.items[0].item_id

    def dataset_at_name(n: str, v: int | None):
        async def check() -> bool:
            return dataset_version(n) == v

        return check

    def dataset_at(v: int | None):
        async def check() -> bool:
            return dataset_version(dataset) == v

        return check

    def dataset_version(n: str) -> int | None:
        try:
            return alice.datasets.get(n).version
        except pt.NotFoundError:
            return None

    experiment = store_saved_run(alice, "xsrf", dataset).experiment_id

    def experiment_state() -> str:
        try:
            return "blessed" if alice.experiments.info(experiment).blessed else "stored"
        except pt.NotFoundError:
            return "gone"

    def experiment_is(state: str):
        async def check() -> bool:
            return experiment_state() == state

        return check

    published = f"xsrf-{unique}"  # a prompt of its own: no other test's latest version moves

    def versions_are(versions: list[str]):
        async def check() -> bool:
            try:
                return alice.prompt_versions(published) == versions
            except pt.NotFoundError:
                return versions == []

        return check

    base = f"prompt-tester/api/envs/{env}"
    cases = [
        # (method, pattern, tail, body, params, unchanged before, changed after control)
        ("post", "open-test", f"{base}/open-test", {"context_id": entry.context_id}, None,
         nothing, None),
        ("post", "test", f"{base}/test",
         {"prompt_data": draft.prompt_data, "context_data": draft.context_data,
          "behaviour": "gpt-4o-mini"}, None, no_model_call, lambda: len(model.requests()) >= 1),
        ("post", "test-with-context", f"{base}/test-with-context",
         {"context_id": entry.context_id, "behaviour": "gpt-4o-mini"}, None, no_model_call,
         lambda: len(model.requests()) >= 1),
        ("post", "behaviours", f"{base}/behaviours", {"name": f"{name}-new", "spec": SPEC}, None,
         behaviour_at(f"{name}-new", None), lambda: version_of(f"{name}-new") == 1),
        ("put", "behaviours/(?P<name>[^/]+)", f"{base}/behaviours/{name}",
         {"spec": SPEC, "version": 1}, None, behaviour_at(name, 1),
         lambda: version_of(name) == 2),
        ("delete", "behaviours/(?P<name>[^/]+)", f"{base}/behaviours/{name}", None,
         {"version": "2"}, behaviour_at(name, 2), lambda: version_of(name) is None),
        ("put", "secrets", f"{base}/secrets", {"keys": {"OPENAI_ORG": f"org-xsrf-{unique}"}},
         None, org(False), org_is_set),
        ("delete", "secrets", f"{base}/secrets", {"names": ["OPENAI_ORG"]}, None,
         org(True), lambda: not org_is_set()),
        ("put", "logs/(?P<context_id>[^/]+)/ideal-answer",
         f"{base}/logs/{quote(own_log, safe='')}/ideal-answer",
         {"ideal_answer": f"xsrf {unique}"}, None, ideal_is(None),
         lambda: alice.log(own_log).ideal_answer == f"xsrf {unique}"),
        ("post", "api/tester-notebook", "prompt-tester/api/tester-notebook",
         {"context_id": entry.context_id}, None, no_notebook,
         lambda: any(notebooks.iterdir())),
        ("post", "datasets", f"{base}/datasets", {"name": f"{dataset}-new"}, None,
         dataset_at_name(f"{dataset}-new", None), lambda: dataset_version(f"{dataset}-new") == 0),
        ("post", "datasets/(?P<dataset>[^/]+)/logs", f"{base}/datasets/{dataset}/logs",
         {"context_ids": [entry.context_id], "source": "all"}, None, dataset_at(1),
         lambda: dataset_version(dataset) == 2),
        ("post", "datasets/(?P<dataset>[^/]+)/items", f"{base}/datasets/{dataset}/items",
         {"rows": [{"context": {"q": "x"}, "prompt_id": "p"}]}, None, dataset_at(2),
         lambda: dataset_version(dataset) == 3),
        ("delete", "datasets/(?P<dataset>[^/]+)/items", f"{base}/datasets/{dataset}/items",
         {"item_ids": [kept_id]}, None, dataset_at(3), lambda: dataset_version(dataset) == 4),
        ("delete", "datasets/(?P<dataset>[^/]+)", f"{base}/datasets/{dataset}", None, None,
         dataset_at(4), lambda: dataset_version(dataset) is None),
        ("post", "experiments/(?P<experiment_id>[^/]+)/bless",
         f"{base}/experiments/{experiment}/bless", None, None, experiment_is("stored"),
         lambda: experiment_state() == "blessed"),
        ("delete", "experiments/(?P<experiment_id>[^/]+)", f"{base}/experiments/{experiment}",
         None, None, experiment_is("blessed"), lambda: experiment_state() == "gone"),
        ("post", "prompts/(?P<prompt_id>[^/]+)/publish", f"{base}/prompts/{published}/publish",
         {"prompt_data": {**draft.prompt_data, "prompt_id": published, "version": None},
          "force": True, "reason": "the cross-site control"}, None, versions_are([]),
         lambda: alice.prompt_versions(published) == ["1"]),
    ]  # fmt: skip
    model.clear_requests()
    tried = set()
    try:
        for method, short, tail, body, params, unchanged, changed in cases:
            pattern = next(
                p
                for m, p in STATE_CHANGING
                if m == method and (p == short or p.endswith("/" + short))
            )
            tried.add((method, pattern))
            model.clear_requests()  # each model-calling case counts its own calls
            target = f"{method.upper()} {pattern}"
            await attack(target, method.upper(), tail, unchanged, body=body, params=params)
            # positive control: the same request with the header a page script sends
            r = await b.fetch(tail, method.upper(), body=body, params=params, headers=good)
            assert 200 <= r.code < 300, (target, r.code, r.body[:300])
            assert changed is None or changed(), target
    finally:
        for n in (name, f"{name}-new"):
            if version_of(n) is not None:
                alice.behaviours.delete(n)
        if org_is_set():
            alice.secrets.delete("OPENAI_ORG")
        for n in (dataset, f"{dataset}-new"):
            if dataset_version(n) is not None:
                alice.datasets.delete(n)
        if experiment_state() != "gone":
            alice.experiments.delete(experiment)
    assert tried == set(STATE_CHANGING)  # every POST/PUT/DELETE in ROUTES

    # --- the run-proof check (outside ROUTES: it needs the Jupyter login only) -------------
    r = await b.fetch(
        "prompt-tester/api/tester-notebook",
        "POST",
        body={"context_id": entry.context_id},
        headers=good,
    )
    made = json.loads(r.body)
    proofs = jp_serverapp.web_app.settings[RUN_PROOFS]
    written = json.loads((jp_root_dir / made["path"]).read_text())
    code = ["".join(c["source"]) for c in written["cells"] if c["cell_type"] == "code"]
    run_body = {"path": made["path"], "proof": made["run_proof"], "code": code}

    async def proof_unused() -> bool:  # a refused request must not use the proof up
        return proofs.is_pending(made["run_proof"])

    await attack("POST api/run-proof", "POST", "prompt-tester/api/run-proof", proof_unused,
                 body=run_body)  # fmt: skip
    r = await b.fetch("prompt-tester/api/run-proof", "POST", body=run_body, headers=good)
    assert r.code == 204 and not await proof_unused()  # the positive control

    # --- signing out last ---------------------------------------------------------------
    async def still_signed_in() -> bool:
        return (await b.fetch("prompt-tester/auth/me")).code == 200

    await attack("POST auth/logout", "POST", "prompt-tester/auth/logout", still_signed_in)
    r = await b.fetch("prompt-tester/auth/logout", "POST", headers=good)
    assert r.code == 204 and not await still_signed_in()


# --------------------------------------------------------------------------- cursors


async def test_tampered_cursors_over_rest(jp_fetch, stack):
    alice = await sign_in(jp_fetch, stack, "alice@acme.example")
    logs = ("prompt-tester", "api", "envs")
    code, page, _ = await call(
        jp_fetch, *logs, "env-acme-staging", "logs", cookie=alice, params={"limit": "5"}
    )
    assert code == 200 and page["next_cursor"]
    cursor = page["next_cursor"]
    bob = await sign_in(jp_fetch, stack, "bob@acme.example")
    mallory = await sign_in(jp_fetch, stack, "mallory@globex.example")
    tries = [
        ("another user's cursor", bob, "env-acme-staging", {}, cursor),
        ("another environment's cursor", alice, "env-acme-prod", {}, cursor),
        ("another org's user and env", mallory, "env-globex-prod", {}, cursor),
        ("cursor of other filters", alice, "env-acme-staging",
         {"prompt_id": page["items"][0]["prompt_id"]}, cursor),
        ("last bytes changed", alice, "env-acme-staging", {}, cursor[:-4] + "AAAA"),
        ("first bytes changed", alice, "env-acme-staging", {}, "AAAA" + cursor[4:]),
        ("truncated", alice, "env-acme-staging", {}, cursor[: len(cursor) // 2]),
        ("not base64", alice, "env-acme-staging", {}, "%%%not-a-cursor%%%"),
        ("a JSON key in clear", alice, "env-acme-staging", {},
         json.dumps({"env_id_prompt_id": {"S": "env-acme-staging#x"}})),
    ]  # fmt: skip
    for detail, cookie, env, extra, bad in tries:
        code, data, _ = await call(
            jp_fetch, *logs, env, "logs", cookie=cookie,
            params={"limit": "5", "cursor": bad, **extra},
        )  # fmt: skip
        # got anything = a page came back
        attacks.record("rest", "GET api/envs/{env}/logs", "tampered-cursor", code == 200, detail)
        assert code == 400 and data["field"] == "cursor", (detail, code, data)
    code, again, _ = await call(
        jp_fetch, *logs, "env-acme-staging", "logs", cookie=alice,
        params={"limit": "5", "cursor": cursor},
    )  # fmt: skip
    assert code == 200 and again["items"]  # and it works where it belongs


# --------------------------------------------------------------------------- secrets


async def test_a_sentinel_key_is_in_no_rest_response_or_debug_log(
    jp_fetch, jp_serverapp, jp_root_dir, stack, service, settings, model, caplog, unique
):
    """Provider keys set over REST, then every route called (answers and errors alike):
    the key reaches the model server's auth header and nothing else."""
    sentinel = f"SENTINEL-rest-{unique}-" + hashlib.sha256(unique.encode()).hexdigest()[:16]
    env = "env-acme-prod"
    sm = service.aws.secretsmanager
    secret_name = settings.secret_name(env)
    saved = sm.get_secret_value(SecretId=secret_name)["SecretString"]  # restored exactly
    # Jupyter's own log as it is: no filter of the test's on it (the package's records reach it
    # through the package's handler, which scrubs them).
    server_stream = io.StringIO()
    server_handler = logging.StreamHandler(server_stream)
    server_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    jp_serverapp.log.addHandler(server_handler)
    # Everything else at DEBUG, botocore's and openai's wire logs included, through handlers
    # that carry the package's filter, as one added to them would (redaction.SecretFilter).
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(redaction.SecretFilter())
    caplog.handler.addFilter(redaction.SecretFilter())
    loggers = [logging.getLogger(), jp_serverapp.log, logging.getLogger("tornado")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.addHandler(handler)
    responses: dict[str, str] = {}
    covered: set[tuple[str, str]] = set()

    async def hit(label, *parts, **kw):
        code, data, response = await call(jp_fetch, *parts, **kw)
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.get_all())
        responses[label] = f"{code}\n{headers}\n{response.body.decode(errors='replace')}"
        method = kw.get("method", "GET").lower()
        path = "/".join(parts[1:])
        covered.update(
            (method, p) for p, _h, ms in ROUTES if method in ms and re.fullmatch(p, path)
        )
        return code, data

    try:
        with caplog.at_level(logging.DEBUG):
            cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
            api = ("prompt-tester", "api")
            base = (*api, "envs", env)
            keys = {
                "OPENAI_API_KEY": sentinel,
                "OPENAI_ORG": sentinel,
                "AZURE_OPENAI_KEYS": {"westus": {"url": stack.model.url, "key": sentinel}},
            }
            code, _ = await hit(
                "PUT secrets", *base, "secrets", method="PUT", cookie=cookie, body={"keys": keys}
            )
            assert code == 200
            code, page = await hit("GET logs", *base, "logs", cookie=cookie, params={"limit": "5"})
            entry = next(i for i in page["items"] if i["version"])
            ctx, pid = entry["context_id"], entry["prompt_id"]
            await hit("GET environments", *api, "environments", cookie=cookie)
            await hit("GET log", *base, "logs", ctx, cookie=cookie)
            await hit("GET prompts", *base, "prompts", cookie=cookie)
            await hit("GET versions", *base, "prompts", pid, "versions", cookie=cookie)
            await hit("GET prompt", *base, "prompts", pid, cookie=cookie)
            _, opened = await hit(
                "POST open-test", *base, "open-test", method="POST", cookie=cookie,
                body={"context_id": ctx},
            )  # fmt: skip
            draft = {k: opened[k] for k in ("prompt_data", "context_data")}
            model.clear_requests()
            for behaviour in ("default", "gpt-4o-mini"):  # azure, then openai
                code, result = await hit(
                    f"POST test ({behaviour})", *base, "test", method="POST", cookie=cookie,
                    body={**draft, "behaviour": behaviour},
                )  # fmt: skip
                assert code == 200, result
            code, result = await hit(
                "POST test-with-context", *base, "test-with-context", method="POST",
                cookie=cookie, body={"context_id": ctx, "behaviour": "gpt-4o-mini"},
            )  # fmt: skip
            assert code == 200, result
            # the key did reach the model server's auth header, where it belongs
            assert {r["key_sha256"] for r in model.requests()} == {
                hashlib.sha256(sentinel.encode()).hexdigest()
            }
            model.add_fault("status", status=401, count=5)
            code, _ = await hit(
                "POST test (provider refuses the key)", *base, "test", method="POST",
                cookie=cookie, body={**draft, "behaviour": "gpt-4o-mini"},
            )  # fmt: skip
            assert code >= 400
            model.clear_faults()
            for label, bad in (
                ("PUT secrets (too long)", {"OPENAI_API_KEY": sentinel + "x" * 5000}),
                ("PUT secrets (bad url)", {"AZURE_OPENAI_KEYS": {"w": {"url": "ftp://x",
                                                                       "key": sentinel}}}),
                ("PUT secrets (unknown name)", {"NOPE": sentinel}),
            ):  # fmt: skip
                code, _ = await hit(
                    label, *base, "secrets", method="PUT", cookie=cookie, body={"keys": bad}
                )
                assert code == 400, label
            name = f"sentinel-{unique}"
            await hit("GET behaviours", *base, "behaviours", cookie=cookie)
            await hit(
                "POST behaviours", *base, "behaviours", method="POST", cookie=cookie,
                body={"name": name, "spec": SPEC},
            )  # fmt: skip
            await hit("GET behaviour", *base, "behaviours", name, cookie=cookie)
            await hit(
                "PUT behaviour", *base, "behaviours", name, method="PUT", cookie=cookie,
                body={"spec": SPEC, "version": 1},
            )  # fmt: skip
            await hit(
                "DELETE behaviour", *base, "behaviours", name, method="DELETE", cookie=cookie,
                params={"version": "2"},
            )  # fmt: skip
            await hit("GET secrets", *base, "secrets", cookie=cookie)
            await hit(
                "DELETE secrets", *base, "secrets", method="DELETE", cookie=cookie,
                body={"names": ["OPENAI_ORG"]},
            )  # fmt: skip
            own = _put_log(service, env, f"sentinel-ideal-{unique}", BASE_TS + 11)
            code, _ = await hit(
                "PUT ideal-answer", *base, "logs", own, "ideal-answer", method="PUT",
                cookie=cookie, body={"ideal_answer": "the ideal answer"},
            )  # fmt: skip
            assert code == 200
            dataset = f"sentinel-{unique}"
            await hit(
                "POST datasets", *base, "datasets", method="POST", cookie=cookie,
                body={"name": dataset},
            )  # fmt: skip
            await hit("GET datasets", *base, "datasets", cookie=cookie)
            code, _ = await hit(
                "POST dataset logs", *base, "datasets", dataset, "logs", method="POST",
                cookie=cookie, body={"context_ids": [ctx], "source": "all"},
            )  # fmt: skip
            assert code == 200
            code, changed = await hit(
                "POST dataset items", *base, "datasets", dataset, "items", method="POST",
                cookie=cookie, body={"rows": [{"context": {"q": "x"}, "prompt_id": pid}]},
            )  # fmt: skip
            assert code == 200
            await hit(
                "DELETE dataset items", *base, "datasets", dataset, "items", method="DELETE",
                cookie=cookie, body={"item_ids": [changed["items"][0]["item_id"]]},
            )  # fmt: skip
            await hit("GET dataset", *base, "datasets", f"{dataset}@1", cookie=cookie)
            await hit("DELETE dataset", *base, "datasets", dataset, method="DELETE", cookie=cookie)
            owner = pt.connect(
                email="alice@acme.example",
                password=password_of(stack, "alice@acme.example"),
                env=env,
                service=service,
            )
            experiment = store_saved_run(owner, "sentinel", dataset).experiment_id
            await hit("GET experiments", *base, "experiments", cookie=cookie)
            await hit("GET experiment", *base, "experiments", experiment, cookie=cookie)
            await hit("GET experiment rows", *base, "experiments", experiment, "rows",
                      cookie=cookie, params={"limit": "2"})  # fmt: skip
            await hit("POST experiment bless", *base, "experiments", experiment, "bless",
                      method="POST", cookie=cookie)  # fmt: skip
            await hit("DELETE experiment", *base, "experiments", experiment, method="DELETE",
                      cookie=cookie)  # fmt: skip
            # a new prompt of its own, so no other test's "latest version" moves
            published = {
                "prompt_id": f"sentinel-{unique}",
                "chats": [{"role": "user", "content": "Hello {customer_name}"}],
            }
            code, _ = await hit(
                "POST publish", *base, "prompts", published["prompt_id"], "publish",
                method="POST", cookie=cookie,
                body={"prompt_data": published, "force": True, "reason": "sentinel sweep"},
            )  # fmt: skip
            assert code == 201
            await hit("GET prompt history", *base, "prompts", published["prompt_id"], "history",
                      cookie=cookie)  # fmt: skip
            await hit("GET audit", *base, "audit", cookie=cookie)
            code, made = await hit(
                "POST tester-notebook", *api, "tester-notebook", method="POST", cookie=cookie,
                body={"context_id": ctx, "env": env},
            )  # fmt: skip
            assert code == 200
            await hit("GET openapi.json", *api, "openapi.json")
            await hit("GET health", *api, "health")
            await hit("GET auth/me", "prompt-tester", "auth", "me", cookie=cookie)
            await hit("GET auth/password", "prompt-tester", "auth", "password")
            notebook = (jp_root_dir / made["path"]).read_text()
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
            lg.removeHandler(handler)
        jp_serverapp.log.removeHandler(server_handler)
        sm.put_secret_value(SecretId=secret_name, SecretString=saved)
    assert covered == {(m, p) for p, _h, ms in ROUTES for m in ms}  # every route was called
    channels = {f"response: {k}": v for k, v in responses.items()}
    channels["log at DEBUG (caplog)"] = caplog.text
    channels["log at DEBUG (server, tornado, root)"] = stream.getvalue()
    channels["Jupyter's log at DEBUG, no added filter"] = server_stream.getvalue()
    assert "DEBUG prompt_tester_nb.server.base " in server_stream.getvalue()
    channels["tester notebook on disk"] = notebook
    assert len(caplog.records) > 50  # DEBUG logging really was on (botocore, tornado, …)
    assert "tornado.access" in stream.getvalue() or "ServerApp" in stream.getvalue()
    # the flow-prompt API tokens the server made (the ideal answer's PUT used one)
    api_tokens = [
        t for t, _ in jp_serverapp.web_app.settings["prompt_tester_service"]._tokens.values()
    ]
    assert api_tokens
    found = []
    for label, text in channels.items():
        surface = "notebook" if label.startswith("tester notebook") else "rest"
        # got anything = the sentinel (or an API token) in that response, log or file
        leaked = sentinel in text or any(t in text for t in api_tokens)
        if attacks.record(surface, label, "secret-search", leaked):
            found.append(label)
    assert found == []
    assert sm.get_secret_value(SecretId=secret_name)["SecretString"] == saved


# --------------------------------------------------------------------------- tokens


def _signed(claims: dict, *, key=None, kid=None, alg="RS256") -> str:
    from prompt_tester_nb.local.hosted_ui import _moto_signing_key

    moto_key, moto_kid = _moto_signing_key()
    return jwt.encode(
        claims, key if key is not None else moto_key, algorithm=alg,
        headers={"kid": kid or moto_kid},
    )  # fmt: skip


def test_crafted_tokens_in_the_kernel_session_file_are_refused(service, stack, tmp_path):
    """pt.connect() with no arguments trusts nothing in the handed-over file it cannot verify:
    tokens are checked like any other (signature, alg, issuer, audience, use, expiry)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    email = "bob@acme.example"
    real = service.auth.sign_in(email, password_of(stack, email))
    claims = jwt.decode(real.id_token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(real.id_token)["kid"]
    # the pool's own key (moto's) signs these: only the claim under test is wrong
    assert service.auth.verify_id_token(_signed(claims)).email == email
    now = int(time.time())
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    from cryptography.hazmat.primitives import serialization

    public_pem = (
        service.auth.openid._jwk_client()
        .get_signing_key(kid)
        .key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    mallory = {**claims, "email": "mallory@globex.example", "sub": "mallory-sub"}
    crafted = [
        ("forged-token", "another key, same kid", jwt.encode(
            mallory, own_key, algorithm="RS256", headers={"kid": kid})),
        ("alg-none", "unsigned", jwt.encode(mallory, key=None, algorithm="none")),
        ("alg-none", "unsigned, header says RS256", ".".join(
            [_b64({"alg": "RS256", "kid": kid, "typ": "JWT"}), _b64(mallory), ""])),
        ("alg-confusion", "HS256 keyed with the pool's public key", _hs256(mallory, public_pem)),
        ("expired-token", "pool-signed, expired", _signed(
            {**claims, "exp": now - 3600, "iat": now - 7200})),
        ("forged-token", "pool-signed, another audience", _signed({**claims, "aud": "other"})),
        ("forged-token", "pool-signed, another issuer", _signed(
            {**claims, "iss": "https://evil.example/pool"})),
        ("forged-token", "pool-signed access token", _signed({**claims, "token_use": "access"})),
        ("forged-token", "signature bytes changed", real.id_token[:-8] + "A" * 8),
        ("forged-token", "not a JWT", "garbage"),
    ]  # fmt: skip
    path = tmp_path / "handoff" / "session.json"
    from prompt_tester_nb.service import PromptTesterService

    service = PromptTesterService(
        service.settings.model_copy(update={"session_file": str(path)}), clients=service.aws
    )
    for attack, detail, token in crafted:
        _handoff(path, token, refresh=None)
        # got anything = a session came back
        with attacks.refused(
            "kernel", "pt.connect() session file", attack, pt.AuthenticationError, detail
        ):
            pt.connect(env="production", service=service)
    # an expired token with a refresh token that is not Cognito's
    _handoff(path, _signed({**claims, "exp": now - 10}), refresh="forged-refresh", at=now - 10)
    with attacks.refused(
        "kernel", "pt.connect() session file", "forged-token", pt.AuthenticationError,
        "expired, forged refresh token",
    ):  # fmt: skip
        pt.connect(env="production", service=service)
    # the file's own "email" is not who signs in: the verified token says who
    _handoff(path, real.id_token, refresh=None, email="alice@acme.example")
    s = pt.connect(env="production", service=service)
    attacks.record(
        "kernel", "pt.connect() session file", "forged-claims", s.user.email != email,
        "email field names another user",
    )  # fmt: skip
    assert s.user.email == email


def _b64(obj: dict) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _hs256(claims: dict, secret: bytes) -> str:
    import base64
    import hmac

    head = _b64({"alg": "HS256", "typ": "JWT"}) + "." + _b64(claims)
    sig = hmac.new(secret, head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def _handoff(path, token: str, refresh: str | None, email="bob@acme.example", at=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    expires_at = at if at is not None else time.time() + 3600
    data = {"id_token": token, "refresh_token": refresh, "expires_at": expires_at, "email": email}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)


def test_crafted_api_tokens_at_the_log_api_are_refused(service, alice, stack, settings, unique):
    """flow-prompt posts each call to the log API with an API token: only a live token
    stored (as a digest) in ApiTokens writes a log, and only into its own environment."""
    url = stack.flow_api.url
    prompt_id = f"attack-{unique}"
    live = service.api_token(alice.user, alice.env)
    expired = service.api_token(alice.user, service.environment(alice.user, "production"))
    db, table = service.aws.dynamodb, settings.table("ApiTokens")
    digest = hashlib.sha256(expired.encode()).hexdigest()
    item = next(i for i in db.scan(TableName=table)["Items"] if i["secret_key"]["S"] == digest)
    db.update_item(
        TableName=table,
        Key={"env_id": item["env_id"], "secret_key": item["secret_key"]},
        UpdateExpression="SET expires_at = :e",
        ExpressionAttributeValues={":e": {"N": str(int(time.time()) - 1)}},
    )
    crafted = [
        ("forged-token", "random, right shape", f"env-acme-staging.{'x' * 43}"),
        ("forged-token", "the live token's digest", hashlib.sha256(live.encode()).hexdigest()),
        ("forged-token", "live token, one character changed", live[:-1] + ("A" if live[-1] != "A" else "B")),
        ("forged-token", "a Cognito ID token", alice._tokens.id_token),
        ("alg-none", "unsigned JWT", jwt.encode({"sub": alice.user.user_id}, None, algorithm="none")),
        ("expired-token", "expired, not yet deleted by TTL", expired),
        ("forged-token", "none", ""),
    ]  # fmt: skip
    ts = "946684800000"  # 2000-01-01: never among the newest logs other tests read
    payload = {"prompt": {"prompt_id": prompt_id}, "timestamp": ts}
    for attack, detail, token in crafted:
        for route in ("lib/logs", "lib/prompts"):
            r = requests.post(
                url + route, json=payload, headers={"Authorization": f"token {token}"}, timeout=60
            )
            # got anything = accepted (a log written, or a prompt answered)
            attacks.record("log-api", f"POST {route}", attack, r.status_code < 400, detail)
            assert r.status_code == 401, (detail, route, r.status_code, r.text)
    assert alice.logs(prompt_id=prompt_id).items == []
    # the live token works, and writes into its own environment only
    r = requests.post(
        url + "lib/logs", json=payload, headers={"Authorization": f"token {live}"}, timeout=60
    )
    assert r.status_code == 200
    assert [i.prompt_id for i in alice.logs(prompt_id=prompt_id).items] == [prompt_id]
    db.delete_item(
        TableName=settings.table("Logs"),
        Key={"env_id_prompt_id": {"S": f"{alice.env.env_id}#{prompt_id}"}, "timestamp": {"N": ts}},
    )
