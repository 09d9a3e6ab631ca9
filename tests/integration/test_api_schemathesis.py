"""Fuzz the running api function against docs/openapi.yaml with schemathesis (bounded: a fixed seed,
a few examples per operation, ~100 s: marked slow, so `make test-slow`, not `make test`): no 5xx, and
every response conforms to the document (status code, content type, body schema). The key belongs to
the internal tenant with every scope, and two of its customers are funded, so transfers and holds can
get past 404 and 422."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from shared.api import openapi
from shared.config import REPO_ROOT
from shared.demo import Delivery, send

from .conftest import posted
from .test_api import cli

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
CUSTOMERS = ("0", "A", "a", "cus_fuzz", "cus_fuzzb")


@pytest.mark.slow  # make test-slow: ~6,000 cases at the rate limit, ~100 s
def test_schemathesis_finds_no_server_error_and_no_nonconforming_response(cfg, db, intake, secret, payment, tmp_path):
    api = cfg.function_urls["api"]
    requests.get(api + "/healthz", timeout=5).raise_for_status()
    cli("tenants", "create", "internal")
    cli("tenants", "add-customer", "internal", *CUSTOMERS)
    for customer in ("cus_fuzz", "cus_fuzzb"):
        p = payment(amount=100_000, currency="usd", customer=customer)
        assert send(intake, Delivery("fuzz-funding", p["body"], secret, 200, "accepted")).status_code == 200
        posted(db, p["key"])
    key = cli("api-keys", "create", "--tenant", "internal", "--scopes", "read,write,admin,operator", "--label", "fuzz",
              "--operator", "fuzz@ledgerline.test")  # fmt: skip
    schemathesis = Path(sys.executable).parent / "schemathesis"
    run = subprocess.run(
        [
            str(schemathesis), "run", str(openapi.PATH), "--url", api,
            "-H", f"Authorization: Bearer {key['api_key']}",
            "--checks", CHECKS, "--max-examples", "10", "--seed", "1", "--workers", "1",
            "--generation-database", "none", "--request-timeout", "20", "--rate-limit", "80/s", "--no-color",
            "--report", "junit", "--report-dir", str(tmp_path),
        ],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=240,
    )  # fmt: skip
    summary = run.stdout[-3000:]
    output = tmp_path / "schemathesis.txt"  # the whole run (each failure with its curl), kept by pytest
    output.write_text(run.stdout + run.stderr)
    assert run.returncode == 0, f"{output}:\n" + summary + run.stderr[-2000:]
    # the last line counts failures and errors ("2 failures, 3 warnings in 100s"); warnings (an operation
    # that only answered 403, e.g. approving one's own request) are not failures
    cases = re.search(r"Test cases:\s*\n\s*(.+)", summary)
    assert cases and " passed" in cases.group(1) and "failed" not in cases.group(1), summary
    assert not re.search(r"\b\d+ (failures?|errors?)\b", summary.strip().splitlines()[-1]), summary
    assert key["api_key"] not in run.stdout  # schemathesis sanitizes Authorization in its output
    cli("api-keys", "revoke", key["key_id"])
