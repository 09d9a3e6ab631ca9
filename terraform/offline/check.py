"""`make tf-validate`: terraform validate and terraform test of every root, offline (issue 20).

The google provider cannot be downloaded here, so Terraform is given a stand-in (provider.py) that
serves the real provider's schema, rebuilt from the npm package @cdktf/provider-google (generated
from google 6.50.0). Steps, each cached under .run/terraform-offline/ on the hash of its inputs:

  1. npm pack @cdktf/provider-google@16.12.1, kept only if its sha512 is the pinned integrity
  2. cdktf_schema.py: the tarball -> `terraform providers schema -json` format
  3. grpc_tools.protoc: the .proto files beside this file -> Python stubs (never committed)
  4. provider.py compile: the schema -> the serialised GetProviderSchema response
  5. a filesystem mirror holding registry.terraform.io/hashicorp/google 6.50.0 (a wrapper script
     that execs provider.py) and a CLI configuration that installs google from it and only from it

Then, per root (envs/dev, envs/prod, envs/bootstrap): `init -backend=false`, `validate`, and
`test` where the root has tests/*.tftest.hcl (mock_provider "google": plan and apply in memory).

Terraform runs on a copy of terraform/ and topology/ under .run/terraform-offline/tree, never on
the checkout: init writes a .terraform.lock.hcl beside the root, and one recording the stand-in's
checksum would break the next real `make plan` (and a real lock file would refuse the stand-in).
The copy's build/<function>.zip are placeholders (their content is never read, only hashed by
filesha256), so this needs no `make build`.

    python check.py              everything (run with .venv-tfplugin's interpreter: grpcio-tools)
    python check.py --prepare    steps 1-5 only; prints the artefacts as JSON (unit tests)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RUN = REPO / ".run" / "terraform-offline"

PACKAGE = "@cdktf/provider-google"
PACKAGE_VERSION = "16.12.1"  # generated from google 6.50.0 (the package's own release notes)
INTEGRITY = "sha512-KqNA/5RiFT07r0PSZ6/07cJ2zESUgbj1JchVj21iBFBZVUbD+578xA/k8eq/r0cbyEgLmg9eYWeVslaYah4DCQ=="
GOOGLE_VERSION = "6.50.0"
GOOGLE = "registry.terraform.io/hashicorp/google"
ROOTS = ("dev", "prod", "bootstrap")
PROTOS = ("tfplugin5.proto", "goplugin.proto", "health.proto")

# The environment Terraform runs in: nothing from the caller's Terraform or Google setup leaks in
# (a TF_CLI_ARGS_plan, a plugin cache holding the real provider, a project).
DROPPED_ENV = ("TF_CLI_ARGS", "TF_WORKSPACE", "TF_PLUGIN_CACHE_DIR", "TF_LOG", "TF_LOG_PATH", "GOOGLE_CLOUD_PROJECT")


class CheckError(Exception):
    """A step failed for a reason worth one clear line (no traceback)."""


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _timed(label: str, started: float) -> None:
    print(f"  {label:<44} {time.monotonic() - started:6.1f} s", flush=True)


# ---------------------------------------------------------------------------- 1-5: the stand-in


def _quiet(cmd: list[str], env: dict | None = None) -> None:
    """Run a step, showing its output only if it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise CheckError(f"{' '.join(cmd)} failed:\n{(done.stdout + done.stderr).strip()}")


def npm_tarball(run: Path) -> Path:
    """The package tarball, fetched once and checked against the pinned integrity every time."""
    tarball = run / "npm" / f"cdktf-provider-google-{PACKAGE_VERSION}.tgz"

    def integrity(path: Path) -> str:
        return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()

    if tarball.is_file() and integrity(tarball) == INTEGRITY:
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise CheckError(
            f"npm not found: it fetches {PACKAGE}@{PACKAGE_VERSION} (install Node.js 20, e.g. actions/setup-node)"
        )
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tarball.parent) as tmp:
        done = subprocess.run(
            [npm, "pack", f"{PACKAGE}@{PACKAGE_VERSION}", "--loglevel=error", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            timeout=300,
        )
        fetched = next(Path(tmp).glob("*.tgz"), None)
        if done.returncode != 0 or fetched is None:
            raise CheckError(
                f"npm pack {PACKAGE}@{PACKAGE_VERSION} failed (offline, or no access to the npm registry?):\n"
                + (done.stderr or done.stdout).strip()
            )
        got = integrity(fetched)
        if got != INTEGRITY:
            raise CheckError(f"{PACKAGE}@{PACKAGE_VERSION}: integrity {got}, expected {INTEGRITY}: refusing it")
        fetched.replace(tarball)
    return tarball


def extract_schema(run: Path, tarball: Path) -> Path:
    key = _digest(tarball.read_bytes(), (HERE / "cdktf_schema.py").read_bytes())
    out = run / f"schema-{key}.json"
    if not out.is_file():
        for stale in run.glob("schema-*.json"):
            stale.unlink()
        tmp = out.with_suffix(".tmp")
        _quiet([sys.executable, str(HERE / "cdktf_schema.py"), str(tarball), str(tmp)])
        tmp.replace(out)
    return out


def generate_stubs(run: Path) -> Path:
    """Python stubs of the .proto files, from the pinned grpcio-tools of .venv-tfplugin."""
    try:
        from grpc_tools import protoc  # noqa: F401  (only to fail early, with a clear message)
    except ImportError:
        raise CheckError(
            "grpcio-tools is missing: run this with .venv-tfplugin/bin/python (make tf-validate)"
        ) from None
    sources = [(HERE / name).read_bytes() for name in PROTOS]
    key = _digest(*sources, (HERE / "requirements.txt").read_bytes())
    out = run / f"stubs-{key}"
    if not (out / ".done").is_file():
        for stale in run.glob("stubs-*"):
            shutil.rmtree(stale)
        out.mkdir(parents=True)
        _quiet(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{HERE}", f"--python_out={out}", f"--grpc_python_out={out}"]
            + [str(HERE / name) for name in PROTOS]
        )
        (out / ".done").touch()
    return out


def compile_schema(run: Path, schema: Path, stubs: Path) -> Path:
    key = _digest(schema.name, stubs.name, (HERE / "provider.py").read_bytes())
    out = run / f"schema-{key}.pb"
    if not out.is_file():
        for stale in run.glob("schema-*.pb"):
            stale.unlink()
        env = {**os.environ, "LEDGERLINE_TFPLUGIN_STUBS": str(stubs)}
        _quiet([sys.executable, str(HERE / "provider.py"), "compile", str(schema), str(out)], env=env)
    return out


def terraform_binary() -> str:
    tf = os.environ.get("TF") or "terraform"
    found = shutil.which(tf)
    if found is None:
        raise CheckError(f"terraform not found ({tf}): the machine image has 1.11.4")
    return found


def install_mirror(run: Path, stubs: Path, compiled: Path, tf: str) -> Path:
    """The filesystem mirror (unpacked layout) and the CLI configuration pointing at it."""
    platform = json.loads(
        subprocess.run([tf, "version", "-json"], capture_output=True, text=True, check=True, env=_tf_env(None)).stdout
    )["platform"]
    mirror = run / "mirror"
    shutil.rmtree(mirror, ignore_errors=True)
    target = mirror / GOOGLE / GOOGLE_VERSION / platform
    target.mkdir(parents=True)
    plugin = target / f"terraform-provider-google_v{GOOGLE_VERSION}"
    plugin.write_text(
        "#!/bin/sh\n"
        "# ledgerline's offline stand-in for hashicorp/google (terraform/offline/provider.py): schema only.\n"
        f"export LEDGERLINE_TFPLUGIN_STUBS='{stubs}' LEDGERLINE_TFPLUGIN_SCHEMA='{compiled}'\n"
        f"exec '{sys.executable}' '{HERE / 'provider.py'}'\n"
    )
    plugin.chmod(0o755)
    config = run / "terraformrc"
    config.write_text(
        "# Written by terraform/offline/check.py: google from the stand-in mirror only, nothing else changed.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        f'    include = ["{GOOGLE}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{GOOGLE}"]\n'
        "  }\n"
        "}\n"
    )
    return config


def prepare(run: Path = RUN) -> dict:
    run.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tarball = npm_tarball(run)
    _timed(f"npm {PACKAGE}@{PACKAGE_VERSION} (integrity ok)", started)
    started = time.monotonic()
    schema = extract_schema(run, tarball)
    _timed("schema (cdktf_schema.py)", started)
    started = time.monotonic()
    stubs = generate_stubs(run)
    compiled = compile_schema(run, schema, stubs)
    _timed("stubs + compiled GetProviderSchema response", started)
    artefacts = {"schema_json": str(schema), "stubs": str(stubs), "schema_pb": str(compiled), "python": sys.executable}
    (run / "artefacts.json").write_text(json.dumps(artefacts, indent=2) + "\n")
    return artefacts


# ---------------------------------------------------------------------------- validate + test


def _tf_env(config: Path | None, data_dir: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV and not k.startswith("TF_CLI_ARGS")}
    env.pop("TF_CLI_CONFIG_FILE", None)
    env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0")
    # Terraform's automatic mTLS stays on, as in any real run: the stand-in answers it (provider.py).
    env.pop("TF_DISABLE_PLUGIN_TLS", None)
    if config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(config)
    else:
        env["TF_CLI_CONFIG_FILE"] = os.devnull
    if data_dir is not None:
        env["TF_DATA_DIR"] = str(data_dir)
    return env


def workspace(run: Path) -> Path:
    """A fresh copy of terraform/ and topology/ (lock files, state and local data left behind)."""
    tree = run / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    ignore = shutil.ignore_patterns(
        ".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfplan", "terraform.tfvars", "__pycache__"
    )
    shutil.copytree(REPO / "terraform", tree / "terraform", ignore=ignore)
    shutil.copytree(REPO / "topology", tree / "topology", ignore=ignore)
    build = tree / "build"
    build.mkdir()
    for name in json.loads((REPO / "topology" / "topology.json").read_text())["functions"]:
        (build / f"{name}.zip").write_text(f"placeholder bundle of {name} (terraform/offline/check.py)\n")
    return tree


def terraform(tf: str, root: Path, env: dict, *args: str) -> tuple[bool, str]:
    done = subprocess.run([tf, f"-chdir={root}", *args, "-no-color"], capture_output=True, text=True, env=env)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def check_root(tf: str, tree: Path, config: Path, run: Path, name: str) -> tuple[bool, list[str]]:
    """init, validate and (if it has tests) test one root; (passed, report lines)."""
    root = tree / "terraform" / "envs" / name
    data = run / "data" / name
    shutil.rmtree(data, ignore_errors=True)
    env = _tf_env(config, data)
    steps = [("init", ("init", "-backend=false", "-input=false")), ("validate", ("validate",))]
    if any((root / "tests").glob("*.tftest.hcl")):
        steps.append(("test", ("test",)))
    report = []
    for label, args in steps:
        started = time.monotonic()
        ok, output = terraform(tf, root, env, *args)
        report.append(f"  {'envs/' + name + ': terraform ' + label:<44} {time.monotonic() - started:6.1f} s")
        if label == "test" or not ok:
            lines = output.splitlines()
            if ok:
                lines = [line for line in lines if line.lstrip().startswith(("run ", "tests/")) or "passed" in line]
            report += ["      " + line.rstrip() for line in lines]
        if not ok:
            report.append(f"error: envs/{name}: terraform {label} failed (output above)")
            return False, report
    return True, report


def main(argv: list[str]) -> int:
    if argv[1:] not in ([], ["--prepare"]):
        print(__doc__.rsplit("\n\n", 1)[1], file=sys.stderr)
        return 2
    total = time.monotonic()
    try:
        artefacts = prepare()
        if argv[1:] == ["--prepare"]:
            print(json.dumps(artefacts, indent=2))
            return 0
        tf = terraform_binary()
        config = install_mirror(RUN, Path(artefacts["stubs"]), Path(artefacts["schema_pb"]), tf)
        tree = workspace(RUN)
    except CheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    # The roots are independent (own TF_DATA_DIR): checked side by side, reported in order.
    with ThreadPoolExecutor(max_workers=len(ROOTS)) as pool:
        results = list(pool.map(lambda name: check_root(tf, tree, config, RUN, name), ROOTS))
    for _, report in results:
        print("\n".join(report), flush=True)
    ok = all(passed for passed, _ in results)
    _timed("offline terraform validate + test, total", total)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
