"""Fail fast, before any install, when the machine lacks what the local cloud needs; say how to get it.
Standard library only: runs with the system python before any venv exists.

    python3 -m emulators.prereqs [--py313 PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path


def machine_problems(py313: str | None = None) -> list[str]:
    problems = []
    gcloud = shutil.which("gcloud")
    if not gcloud:
        problems.append(
            "gcloud is missing: apt-get install google-cloud-cli "
            "google-cloud-cli-datastore-emulator google-cloud-cli-pubsub-emulator"
        )
    else:
        sdk_root = Path(os.path.realpath(gcloud)).parent.parent
        for component, package in (
            ("cloud-datastore-emulator", "google-cloud-cli-datastore-emulator"),
            ("pubsub-emulator", "google-cloud-cli-pubsub-emulator"),
        ):
            if not (sdk_root / "platform" / component).exists():
                problems.append(f"gcloud component {component} is missing: apt-get install {package}")
    if not shutil.which("java"):
        problems.append("java is missing (the gcloud emulators need Java 17): apt-get install openjdk-17-jre-headless")
    if py313 is not None:
        ok = False
        try:
            ok = (
                subprocess.run(
                    [py313, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"], capture_output=True, timeout=30
                ).returncode
                == 0
            )
        except (OSError, subprocess.TimeoutExpired):
            pass
        if not ok:
            problems.append(
                f"Python 3.13 is needed for the BigQuery emulator (tried {py313!r}): "
                "pyenv install 3.13.0, or set PY313=/path/to/python3.13"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--py313")
    args = parser.parse_args(argv)
    problems = machine_problems(args.py313)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
