"""Stage each function's deployable source under build/<name>/: exactly what Cloud Functions receives.

    build/<name>/main.py            the function's entry point (functions/<name>/*)
    build/<name>/requirements.txt   its pinned runtime requirements (functions/<name>/requirements.txt)
    build/<name>/shared/            the shared package, without the operator-only modules
    build/<name>/topology/          the topology file + BigQuery schemas (read at run time)

Dev-only files (emulators/, dev.env, tests) are never staged. The build is reproducible: the
directory is recreated from scratch and a BUILD_MANIFEST lists every file with its sha256.
tests/unit/test_build.py imports each bundle alone, with only its own requirements installed.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

from shared.config import FUNCTION_NAMES, REPO_ROOT

IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
# shared/ parts only an operator runs, from a checkout: the CLI package (`python -m shared.cli`) and the demo
# scenario it sends (`make demo`, with requests, a dev dependency). No function imports them.
OPERATOR_ONLY = ("cli", "demo.py")


def _shared_ignore(directory: str, names: list[str]) -> set[str]:
    skipped = set(IGNORE(directory, names))
    if Path(directory) == REPO_ROOT / "shared":
        skipped |= set(OPERATOR_ONLY) & set(names)
    return skipped


def build(name: str, out_root: Path = REPO_ROOT / "build") -> Path:
    if name not in FUNCTION_NAMES:
        raise SystemExit(f"unknown function {name!r}; known: {', '.join(FUNCTION_NAMES)}")
    out = out_root / name
    if out.exists():
        shutil.rmtree(out)
    if not (REPO_ROOT / "functions" / name / "requirements.txt").is_file():
        raise SystemExit(f"functions/{name}/requirements.txt is missing: each function declares its own")
    shutil.copytree(REPO_ROOT / "functions" / name, out, ignore=IGNORE)  # main.py + requirements.txt
    shutil.copytree(REPO_ROOT / "shared", out / "shared", ignore=_shared_ignore)
    shutil.copytree(REPO_ROOT / "topology", out / "topology", ignore=IGNORE)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    manifest = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out)}\n" for p in files)
    (out / "BUILD_MANIFEST").write_text(manifest)
    return out


def main(argv: list[str]) -> int:
    for name in argv or FUNCTION_NAMES:
        out = build(name)
        print(f"built {out.relative_to(REPO_ROOT)} ({sum(1 for p in out.rglob('*') if p.is_file())} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
