"""The operations console's static files (console/, docs/console.md), served by the api function under
/console/: the Vite build `make console` writes to console/dist, which `make build` copies into the
api bundle at the same relative place (build/api/console/dist), so one rule finds it locally and in the
cloud and no Node runs there.

- Only files of the build are served: the directory is read once into a table of relative path ->
  bytes, and a request is a lookup in that table. No path from a request ever reaches the filesystem,
  so `..`, encoded or not, cannot escape (such paths are refused with a 404 before the lookup anyway).
- A path without a file extension is a page of the single-page app (/console/dead-letters): it gets
  index.html, whose router shows the page. A missing file (with an extension) is a 404.
- Cache: Vite names what it emits under assets/ by content hash, so those are immutable for a year;
  index.html and the other unhashed files are revalidated on every load (no-cache + ETag).
- `/console/sign-in.json` is not a file of the build: it tells the app how operators sign in here,
  `{"sign_in": "iap"}` when the api takes their Google identity from IAP (LEDGERLINE_IAP_AUDIENCE set:
  the cloud, shared/api/iap.py), else `{"sign_in": "api_key"}` (locally: the key form). Never cached.
- Every answer carries a strict Content-Security-Policy: scripts, styles, images and API calls from
  this origin only, nothing inline (the build has no inline script or style: tests/unit/test_console.py),
  no framing; and nosniff, no referrer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

PREFIX = "/console"
ROOT = Path(__file__).resolve().parents[2] / "console" / "dist"  # repo: console/dist; bundle: build/api/console/dist
INDEX = "index.html"
HASHED_DIR = "assets"  # Vite's assetsDir: every name in it carries a content hash

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
METHODS = ("GET", "HEAD")
SIGN_IN = "sign-in.json"
SIGN_IN_METHODS = ("api_key", "iap")

Answer = tuple[bytes, int, dict[str, str]]


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    cache_control: str


def handles(path: str) -> bool:
    """True for /console and everything under /console/ (not /consoles, not /v1/…)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def _asset(relative: str, body: bytes) -> Asset:
    suffix = PurePosixPath(relative).suffix.lower()
    hashed = relative.startswith(HASHED_DIR + "/")
    return Asset(
        body,
        CONTENT_TYPES.get(suffix, "application/octet-stream"),
        '"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        IMMUTABLE if hashed else REVALIDATE,
    )


def load(root: Path) -> dict[str, Asset]:
    """Every regular file under `root` (the build), by its relative POSIX path; symlinks and dot files
    are left out. Empty when the console was not built."""
    if not root.is_dir():
        return {}
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink() or not path.is_file() or any(part.startswith(".") for part in relative.split("/")):
            continue
        found[relative] = _asset(relative, path.read_bytes())
    return found


def _error(status: int, code: str, message: str, extra: dict[str, str] | None = None) -> Answer:
    kind = "api_error" if status >= 500 else "invalid_request_error"
    body = json.dumps({"error": {"type": kind, "code": code, "message": message, "param": "path"}}, sort_keys=True)
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store", **SECURITY_HEADERS, **(extra or {})}
    return body.encode(), status, headers


def _safe(relative: str) -> bool:
    """A path of the build's shape: segments of printable characters, none empty, `.`/`..`, hidden,
    or holding a backslash, a NUL or a control character."""
    if len(relative) > 512:
        return False
    for segment in relative.split("/"):
        if not segment or segment.startswith(".") or "\\" in segment:
            return False
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in segment):
            return False
    return True


class Console:
    """One per process: the build read once (lazily: the API's cold start does not pay for it)."""

    def __init__(self, root: Path = ROOT):
        self.root = root
        self._assets: dict[str, Asset] | None = None

    @property
    def assets(self) -> dict[str, Asset]:
        if self._assets is None:
            self._assets = load(self.root)
        return self._assets

    def serve(self, method: str, path: str, if_none_match: str | None = None, sign_in: str = "api_key") -> Answer:
        if method not in METHODS:
            return _error(405, "method_not_allowed", f"{method} is not allowed here", {"Allow": ", ".join(METHODS)})
        if path == PREFIX:
            return b"", 308, {"Location": PREFIX + "/", **SECURITY_HEADERS}
        relative = path[len(PREFIX) + 1 :] or INDEX
        if not _safe(relative):
            return _error(404, "route_not_found", "no such console file")
        if relative == SIGN_IN:
            if sign_in not in SIGN_IN_METHODS:
                raise ValueError(f"sign_in is one of {SIGN_IN_METHODS}")
            headers = {"Content-Type": CONTENT_TYPES[".json"], "Cache-Control": "no-store", **SECURITY_HEADERS}
            return json.dumps({"sign_in": sign_in}).encode(), 200, headers
        assets = self.assets
        if INDEX not in assets:
            return _error(503, "console_not_built", "the console is not built: run `make console` (or `make up`)")
        asset = assets.get(relative)
        if asset is None:
            if "." in PurePosixPath(relative).name:  # a file that is not in the build
                return _error(404, "route_not_found", "no such console file")
            asset = assets[INDEX]  # a page of the app: its router shows it
        headers = {
            "Content-Type": asset.content_type,
            "Cache-Control": asset.cache_control,
            "ETag": asset.etag,
            **SECURITY_HEADERS,
        }
        if if_none_match and asset.etag in {tag.strip() for tag in if_none_match.split(",")}:
            return b"", 304, headers
        return asset.body, 200, headers  # HEAD: werkzeug sends the headers (Content-Length too) without the body


_console = Console()


def serve(request, *, iap: bool = False) -> Answer:
    """The api function's answer for a /console… request (a Flask request); `iap`: operators sign in
    through IAP here."""
    sign_in = "iap" if iap else "api_key"
    return _console.serve(request.method, request.path, request.headers.get("If-None-Match"), sign_in)
