"""The operations console's static files through the api function (shared/api/console.py): content
types, cache headers, the CSP on every answer, the single-page app's fallback, 404s for files the build
does not have, and no path — encoded, doubled, hidden, a symlink — that reaches past the build."""

import json
import re

import pytest
from functions_framework import create_app

from scripts.build import CONSOLE_DIST, build
from shared.api import console
from shared.api.console import CSP, IMMUTABLE, REVALIDATE, Console
from shared.config import REPO_ROOT

INDEX = b'<!doctype html><head><script type="module" src="/console/assets/index-Ab12Cd34.js"></script></head>'


@pytest.fixture
def dist(tmp_path):
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "assets" / "index-Ab12Cd34.js").write_text("console.log('hi')")
    (root / "assets" / "index-Ef56Gh78.css").write_text("body{}")
    (root / "favicon.svg").write_text("<svg/>")
    (root / ".env").write_text("SECRET=1")
    (root / "assets" / ".hidden.js").write_text("no")
    (tmp_path / "outside.txt").write_text("outside the build")
    (root / "leak.txt").symlink_to(tmp_path / "outside.txt")
    return root


@pytest.fixture
def site(dist):
    return Console(dist)


def test_files_have_their_content_type_cache_policy_and_csp(site):
    body, status, headers = site.serve("GET", "/console/assets/index-Ab12Cd34.js")
    assert (status, body) == (200, b"console.log('hi')")
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["Cache-Control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    _, _, css = site.serve("GET", "/console/assets/index-Ef56Gh78.css")
    assert (css["Content-Type"], css["Cache-Control"]) == ("text/css; charset=utf-8", IMMUTABLE)
    _, _, svg = site.serve("GET", "/console/favicon.svg")
    assert (svg["Content-Type"], svg["Cache-Control"]) == ("image/svg+xml", REVALIDATE)
    body, status, index = site.serve("GET", "/console/")
    assert (status, body) == (200, INDEX)
    assert (index["Content-Type"], index["Cache-Control"]) == ("text/html; charset=utf-8", "no-cache")
    for answer in (headers, css, svg, index):
        assert answer["Content-Security-Policy"] == CSP
        assert answer["X-Content-Type-Options"] == "nosniff"
        assert answer["X-Frame-Options"] == "DENY"


def test_the_csp_allows_nothing_inline_nor_foreign():
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == directives["style-src"] == directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["base-uri"] == "'none'"
    assert "unsafe" not in CSP and "data:" not in CSP and "*" not in CSP


def test_pages_of_the_app_get_index_html_and_missing_files_are_404(site):
    for page in ("/console/dead-letters", "/console/breaks", "/console/a/b"):
        body, status, headers = site.serve("GET", page)
        assert (status, body, headers["Cache-Control"]) == (200, INDEX, "no-cache"), page
    for missing in ("/console/missing.js", "/console/assets/index-00000000.js", "/console/robots.txt"):
        body, status, headers = site.serve("GET", missing)
        assert status == 404, missing
        assert json.loads(body)["error"]["code"] == "route_not_found"
        assert headers["Content-Type"] == "application/json" and headers["Content-Security-Policy"] == CSP


@pytest.mark.parametrize(
    "path",
    [
        "/console/../shared/config.py",
        "/console/assets/../../README.md",
        "/console/assets/../index.html",
        "/console/./index.html",
        "/console//etc/passwd",
        "/console/assets//index-Ab12Cd34.js",
        "/console/..\\..\\README.md",
        "/console/assets\\index-Ab12Cd34.js",
        "/console/.env",
        "/console/assets/.hidden.js",
        "/console/index.html\x00.js",
        "/console/leak.txt",
        "/console/" + "a/" * 300 + "x.js",
    ],
)
def test_no_path_reaches_past_the_build(site, path):
    body, status, _ = site.serve("GET", path)
    assert status == 404, path
    assert b"outside the build" not in body and b"SECRET" not in body


def test_conditional_get_head_redirect_and_methods(site):
    _, _, first = site.serve("GET", "/console/")
    body, status, again = site.serve("GET", "/console/", if_none_match=first["ETag"])
    assert (status, body, again["ETag"]) == (304, b"", first["ETag"])
    assert site.serve("GET", "/console/", if_none_match='"other"')[1] == 200
    assert site.serve("HEAD", "/console/")[1] == 200
    body, status, headers = site.serve("GET", "/console")
    assert (status, headers["Location"]) == (308, "/console/")
    body, status, headers = site.serve("POST", "/console/")
    assert (status, headers["Allow"], json.loads(body)["error"]["code"]) == (405, "GET, HEAD", "method_not_allowed")


def test_an_unbuilt_console_says_how_to_build_it(tmp_path):
    body, status, _ = Console(tmp_path / "nothing").serve("GET", "/console/")
    assert status == 503 and json.loads(body)["error"]["code"] == "console_not_built"


def test_only_console_paths_are_taken_from_the_api():
    assert console.handles("/console") and console.handles("/console/") and console.handles("/console/x.js")
    assert not console.handles("/consoles") and not console.handles("/v1/console") and not console.handles("/")


@pytest.fixture
def function(monkeypatch, dist):
    monkeypatch.setattr(console, "_console", Console(dist))
    return create_app("api", str(REPO_ROOT / "functions" / "api" / "main.py"), "http").test_client()


def test_the_api_function_serves_the_console_beside_the_api(function):
    page = function.get("/console/")
    assert page.status_code == 200 and page.data == INDEX
    assert page.headers["Content-Security-Policy"] == CSP and page.headers["Cache-Control"] == "no-cache"
    asset = function.get("/console/assets/index-Ab12Cd34.js")
    assert asset.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert asset.headers["Cache-Control"] == IMMUTABLE
    head = function.head("/console/assets/index-Ab12Cd34.js")
    assert head.status_code == 200 and head.data == b"" and head.headers["Content-Length"] == "17"
    for path in ("/console/%2e%2e/%2e%2e/README.md", "/console/..%2f..%2fREADME.md", "/console/%2e/index.html"):
        answer = function.get(path)
        assert answer.status_code == 404, path
        assert answer.json["error"]["code"] == "route_not_found"
    # the API itself is untouched: its own 401 and 404
    assert function.get("/v1/dead-letters").json["error"]["code"] == "invalid_api_key"
    assert function.get("/consoles").json["error"]["code"] == "route_not_found"


@pytest.mark.parametrize(("audience", "sign_in"), [("", "api_key"), ("/projects/1/global/backendServices/2", "iap")])
def test_the_app_learns_how_operators_sign_in_here(monkeypatch, dist, audience, sign_in):
    from shared.config import settings

    monkeypatch.setenv("LEDGERLINE_IAP_AUDIENCE", audience)
    settings.cache_clear()
    monkeypatch.setattr(console, "_console", Console(dist))
    try:
        function = create_app("api", str(REPO_ROOT / "functions" / "api" / "main.py"), "http").test_client()
        answer = function.get("/console/sign-in.json")
    finally:
        settings.cache_clear()
    assert answer.status_code == 200 and answer.json == {"sign_in": sign_in}
    assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Content-Security-Policy"] == CSP
    assert Console(dist).serve("POST", "/console/sign-in.json")[1] == 405


BUILT = REPO_ROOT / CONSOLE_DIST


@pytest.mark.skipif(not (BUILT / "index.html").is_file(), reason="console not built (make console; make test does)")
def test_the_real_build_has_nothing_inline_and_every_reference_resolves():
    """The CSP refuses inline scripts and styles: the build must have none, or the page would not run."""
    html = (BUILT / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)
    assert "<style" not in html and "style=" not in html and "javascript:" not in html
    served = Console(BUILT)
    for ref in re.findall(r'(?:src|href)="(/console/[^"]+)"', html):
        body, status, headers = served.serve("GET", ref)
        assert status == 200 and body, ref
        if "/assets/" in ref:
            assert headers["Cache-Control"] == IMMUTABLE
    for css in BUILT.glob("assets/*.css"):
        assert "url(data:" not in css.read_text()


@pytest.mark.skipif(not (BUILT / "index.html").is_file(), reason="console not built (make console; make test does)")
def test_the_api_bundle_carries_the_built_console_and_no_other_does(tmp_path):
    api = build("api", tmp_path)
    assert (api / CONSOLE_DIST / "index.html").read_bytes() == (BUILT / "index.html").read_bytes()
    assert not (api / "console" / "src").exists() and not (api / "console" / "node_modules").exists()
    assert Console(api / CONSOLE_DIST).serve("GET", "/console/")[1] == 200
    ledger = build("ledger", tmp_path)
    assert not (ledger / "console").exists()
