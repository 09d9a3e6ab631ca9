"""The console behind IAP in a real browser: a second api process on this stack, started as the cloud's
is when the console has an IAP backend (LEDGERLINE_IAP_AUDIENCE set), its IAP keys read from a file of
this test's own keys (LEDGERLINE_IAP_KEYS_URL, file://); Chromium sends a signed assertion on every
request, as IAP does in front of the api (console/e2e/iap.e2e.mjs). The operator lands on the overview
without a sign-in page, replays a dead letter (a change, past the CSRF guard), and the audit log names
them by their Google email. Through plain HTTP the same process refuses a forged assertion and a change
without the console's header; the stack's own api (IAP off) ignores the header."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.auth import crypt, jwt

from shared.api import iap
from shared.config import REPO_ROOT

from .test_console_e2e import _dead_letter, _missing, run_console

AUDIENCE = "/projects/123456789012/global/backendServices/77"


def _keys():
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode(), public.decode()


def _assertion(private: str, email: str, kid: str = "e2e-key") -> str:
    now = int(time.time())
    claims = {"iss": iap.ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, "email": email,
              "sub": f"accounts.google.com:{uuid.uuid4().int % 10**20}"}  # fmt: skip
    return jwt.encode(crypt.ES256Signer.from_string(private, kid), claims).decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def iap_api(cfg, tmp_path):
    """(base URL, private key) of an api process with IAP on, stopped after the test."""
    private, public = _keys()
    keys = tmp_path / "iap-keys.json"
    keys.write_text(json.dumps({"e2e-key": public}))
    port = _free_port()
    log = cfg.run_dir / "logs" / "api-iap.log"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1",
           "LEDGERLINE_IAP_AUDIENCE": AUDIENCE, "LEDGERLINE_IAP_KEYS_URL": keys.as_uri()}  # fmt: skip
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(REPO_ROOT / ".venv" / "bin" / "functions-framework"), "--source",
             str(REPO_ROOT / "functions" / "api" / "main.py"), "--target", "api", "--host", "127.0.0.1",
             "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=REPO_ROOT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, f"the IAP api did not start: {log}"
            time.sleep(0.2)
        yield url, private
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_an_operator_behind_iap_works_the_console_with_no_key(cfg, db, iap_api):
    missing = _missing()
    if missing:
        pytest.fail(f"the console's end-to-end test cannot run: {missing} (make test installs all of it)")
    url, private = iap_api
    email = f"iap-{uuid.uuid4().hex[:6]}@ops.test"
    token = _assertion(private, email)

    # the api behind IAP, through plain HTTP first
    assert requests.get(f"{url}/console/sign-in.json", timeout=5).json() == {"sign_in": "iap"}
    me = requests.get(f"{url}/v1/operator/me", headers={iap.HEADER: token}, timeout=5).json()
    assert (me["operator"], me["authentication"]) == (email, "iap")
    other_private, _ = _keys()
    forged = requests.get(f"{url}/v1/operator/me", headers={iap.HEADER: _assertion(other_private, email)}, timeout=5)
    assert (forged.status_code, forged.json()["error"]["code"]) == (401, "invalid_iap_assertion")
    name = _dead_letter(db, f"e2e-iap-{uuid.uuid4().hex[:12]}")
    replay = f"{url}/v1/dead-letters/{name}/replay"
    csrf = requests.post(replay, json={"reason": "x", "dry_run": True}, headers={iap.HEADER: token}, timeout=5)
    assert (csrf.status_code, csrf.json()["error"]["code"]) == (403, "console_header_missing")
    stack = cfg.function_urls["api"]  # IAP off: the header is nobody
    assert requests.get(f"{stack}/v1/operator/me", headers={iap.HEADER: token}, timeout=5).status_code == 401
    assert requests.get(f"{stack}/console/sign-in.json", timeout=5).json() == {"sign_in": "api_key"}

    # the console in Chromium, the assertion on every request as IAP adds it
    artifacts = cfg.run_dir / "artifacts" / "console" / "iap"
    run_console(
        cfg, "iap.e2e.mjs", artifacts, [token], CONSOLE_URL=f"{url}/console/", IAP_ASSERTION=token,
        IAP_OPERATOR=email, CONSOLE_DEAD_LETTER=name, IAP_FORGED=_assertion(other_private, email),
    )  # fmt: skip
    shots = sorted(p.name for p in artifacts.glob("*.png"))
    assert shots == ["iap-01-overview.png", "iap-02-replayed.png", "iap-03-refused.png"], shots
    replayed = requests.get(f"{url}/v1/dead-letters", params={"status": "replayed", "limit": 100},
                            headers={iap.HEADER: token}, timeout=5).json()["data"]  # fmt: skip
    assert name in [d["id"] for d in replayed]
    audit = requests.get(f"{url}/v1/audit-log", params={"target": name, "limit": 10}, headers={iap.HEADER: token},
                         timeout=5).json()["data"]  # fmt: skip
    assert email in {e["actor"] for e in audit}, audit
