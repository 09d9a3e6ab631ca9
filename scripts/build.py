"""Stage each function's deployable source under build/<name>/: exactly what Cloud Functions receives.

    build/<name>/main.py            the function's entry point (functions/<name>/*)
    build/<name>/requirements.txt   its pinned runtime requirements (functions/<name>/requirements.txt)
    build/<name>/shared/            the shared package, without the operator-only modules
    build/<name>/topology/          the topology file + BigQuery schemas (read at run time)
    build/api/console/dist/         api only: the operations console as built by `make console` (static
                                    files, served under /console/ by shared/api/console.py; no Node at run time)

    build/<name>.zip                the same, zipped: what Terraform uploads (under its sha256)

Dev-only files (emulators/, dev.env, tests) are never staged. The build is reproducible: the
directory is recreated from scratch, a BUILD_MANIFEST lists every file with its sha256, and the zip
is byte for byte the same on every machine — entries in sorted order, each with mode 0644 and the
timestamp 1980-01-01 whatever the checkout's umask and mtimes (tests/unit/test_build.py builds under
two umasks and compares). tests/unit/test_build.py also imports each bundle alone, with only its own
requirements installed.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import zipfile
from pathlib import Path

from shared.config import FUNCTION_NAMES, REPO_ROOT

IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
# shared/ parts only an operator runs, from a checkout: the CLI package (`python -m shared.cli`) and the demo
# scenario it sends (`make demo`, with requests, a dev dependency). No function imports them.
OPERATOR_ONLY = ("cli", "demo.py")
# The console's build (Vite: console/dist), staged at the same relative place in the api bundle.
CONSOLE_DIST = Path("console") / "dist"
CONSOLE_FUNCTION = "api"


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
    if name == CONSOLE_FUNCTION and (REPO_ROOT / CONSOLE_DIST / "index.html").is_file():
        shutil.copytree(REPO_ROOT / CONSOLE_DIST, out / CONSOLE_DIST, ignore=IGNORE)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    manifest = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out)}\n" for p in files)
    (out / "BUILD_MANIFEST").write_text(manifest)
    bundle(out, out_root / f"{name}.zip")
    return out


EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: every entry the same, whatever the file's mtime


def bundle(source: Path, target: Path) -> Path:
    """Zip `source` reproducibly: sorted entries, fixed modes (0644) and timestamps, deflate level 9."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        files = {p.relative_to(source).as_posix(): p for p in source.rglob("*") if p.is_file()}
        for name in sorted(files):  # by the entry's name, as a zip lists it
            path = files[name]
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.external_attr = (0o100644 & 0xFFFF) << 16  # a regular file, rw-r--r--
            info.create_system = 3  # unix: the mode bits above are read
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return target


def main(argv: list[str]) -> int:
    names = argv or FUNCTION_NAMES
    if CONSOLE_FUNCTION in names and not (REPO_ROOT / CONSOLE_DIST / "index.html").is_file():
        raise SystemExit(f"{CONSOLE_DIST}/index.html is missing: build the console first (make console)")
    for name in names:
        out = build(name)
        print(f"built {out.relative_to(REPO_ROOT)} ({sum(1 for p in out.rglob('*') if p.is_file())} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
