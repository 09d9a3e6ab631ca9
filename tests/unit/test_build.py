"""`make build` stages exactly what Cloud Functions receives, and that bundle imports on its own."""

import subprocess
import sys

from scripts.build import build


def test_bundle_is_self_contained(tmp_path):
    out = build("ledger", tmp_path)
    assert (out / "main.py").is_file() and (out / "shared" / "ledger" / "posting.py").is_file()
    assert (out / "topology" / "topology.json").is_file()
    assert (out / "requirements.txt").read_text().count("==") >= 5
    assert not list(out.rglob("dev.env")) and not list(out.rglob("__pycache__")) and not (out / "emulators").exists()
    # Import the entry point from the bundle alone (no repo on sys.path, cloud mode: no dev file).
    code = "import main; assert callable(main.ledger); import shared.topology as t; t.check_names()"
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, '.'); {code}"],
        cwd=out,
        capture_output=True,
        text=True,
        env={"K_SERVICE": "ledger"},
    )
    assert result.returncode == 0, result.stderr
