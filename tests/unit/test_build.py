"""`make build` stages exactly what Cloud Functions receives, and each bundle imports on its own: its
whole code path (lazy imports included), with nothing installed but its own requirements."""

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scripts.build import OPERATOR_ONLY, build
from shared.config import FUNCTION_NAMES, REPO_ROOT

BUNDLE_IMPORTS = REPO_ROOT / "tests" / "bundle_imports.py"


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


def requirements(path: Path) -> dict[str, str]:
    """Distribution (canonical name) -> its line, for a requirements file of pins."""
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {canonicalize_name(Requirement(line).name): line for line in lines if line}


def provided(names) -> set[str]:
    """What installing `names` brings: them and, as this venv's metadata declares them, their
    dependencies (extras followed, environment markers evaluated)."""
    found, todo = set(), [(name, frozenset()) for name in names]
    while todo:
        name, extras = todo.pop()
        if (canonicalize_name(name), extras) in found:
            continue
        found.add((canonicalize_name(name), extras))
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in map(Requirement, requires):
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in ("", *extras)):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return {name for name, _ in found}


def import_bundle(out: Path, allowed: set[str], service: str) -> subprocess.CompletedProcess:
    """tests/bundle_imports.py inside the bundle: its code path imported, any other distribution refused."""
    return subprocess.run(
        [sys.executable, "-I", str(BUNDLE_IMPORTS), ",".join(sorted(allowed))],
        cwd=out,
        capture_output=True,
        text=True,
        env={"K_SERVICE": service},
    )


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_each_bundle_imports_its_whole_code_path_with_its_own_requirements_alone(name, tmp_path):
    out = build(name, tmp_path)
    assert (out / "requirements.txt").read_text() == (REPO_ROOT / "functions" / name / "requirements.txt").read_text()
    assert not [p for p in OPERATOR_ONLY if (out / "shared" / p).exists()]
    own = requirements(out / "requirements.txt")
    result = import_bundle(out, provided(own), name)
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout)
    assert "shared.bootstrap" in imported["modules"] and "shared.config" in imported["modules"]
    unused = sorted(set(own) - set(imported["distributions"]))
    assert not unused, f"functions/{name}/requirements.txt lists {unused}, which {name}'s code path never imports"


def test_a_lazy_import_of_a_distribution_the_requirements_lack_fails_the_bundle(tmp_path):
    """The check is not vacuous: a function whose code path imports PyYAML inside a function fails
    without it and passes with it; an import in code the function cannot reach does not count."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "__init__.py").write_text("")
    (tmp_path / "shared" / "job.py").write_text(
        "def run():\n    import yaml\n    return yaml.safe_dump([])\n\n\n"
        "def elsewhere():\n    import hypothesis\n    return hypothesis\n"
    )
    (tmp_path / "main.py").write_text("from shared import job\n\n\ndef entry(request):\n    return job.run()\n")
    refused = import_bundle(tmp_path, set(), "job")
    assert refused.returncode != 0
    assert "yaml is installed by pyyaml: not in this function's requirements" in refused.stderr
    allowed = import_bundle(tmp_path, {"pyyaml"}, "job")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout) == {"modules": ["main", "shared", "shared.job"], "distributions": ["pyyaml"]}


def test_the_root_requirements_are_the_union_of_the_functions_with_the_same_pins():
    """requirements.txt (the dev venv's runtime set) = every function's requirements, pinned alike."""
    pins: dict[str, set[str]] = {}
    for name in FUNCTION_NAMES:
        for dist, line in requirements(REPO_ROOT / "functions" / name / "requirements.txt").items():
            pins.setdefault(dist, set()).add(line)
    assert pins == {dist: {line} for dist, line in requirements(REPO_ROOT / "requirements.txt").items()}


def test_the_bundle_zip_is_the_same_bytes_whatever_the_umask_and_the_file_times(tmp_path):
    """Every deployer uploads the same zip (Terraform names it by its sha256): a build under umask 077
    with fresh mtimes equals one under 022, and every entry is a 0644 file dated 1980-01-01."""
    import hashlib
    import os
    import time
    import zipfile

    def zipped(umask: int, where: Path) -> str:
        old = os.umask(umask)
        try:
            build("api", where)
        finally:
            os.umask(old)
        return hashlib.sha256((where / "api.zip").read_bytes()).hexdigest()

    first = zipped(0o022, tmp_path / "a")
    time.sleep(1.1)  # other mtimes for every staged file
    assert zipped(0o077, tmp_path / "b") == first
    with zipfile.ZipFile(tmp_path / "b" / "api.zip") as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names) and "main.py" in names and "BUILD_MANIFEST" in names
        assert {(i.external_attr >> 16) & 0o777 for i in infos} == {0o644}
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        staged = sorted(
            p.relative_to(tmp_path / "b" / "api").as_posix() for p in (tmp_path / "b" / "api").rglob("*") if p.is_file()
        )
        assert names == staged  # the zip is the staged directory, nothing more or less


def test_make_build_builds_every_function():
    """`make plan|deploy` upload what `make build` made: a function left out of it (payments and webhooks
    once were) has no bundle for Terraform to upload. The target builds scripts.build's default: all."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = makefile.split("\nbuild:", 1)[1].split("\n\n", 1)[0]
    commands = [line.strip() for line in recipe.splitlines()[1:] if line.startswith("\t")]
    assert commands == ["$(PY) -m scripts.build"], commands
    assert set(FUNCTION_NAMES) == set(json.loads((REPO_ROOT / "topology" / "topology.json").read_text())["functions"])
