"""The Terraform configuration as data (python-hcl2), for structural tests that need no provider.

Blocks come back as lists of dicts; expressions as strings such as "${local.x}"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import hcl2
from hcl2 import SerializationOptions

from shared.config import REPO_ROOT

TERRAFORM = REPO_ROOT / "terraform"
MODULES = TERRAFORM / "modules"
_OPTIONS = SerializationOptions(strip_string_quotes=True)


@dataclass(frozen=True)
class Resource:
    module: str  # modules/<module>, or envs/<env>
    type: str
    name: str
    body: dict

    @property
    def address(self) -> str:
        return f"{self.module}:{self.type}.{self.name}"


@cache
def parse(path: Path) -> dict:
    with path.open() as f:
        return hcl2.load(f, serialization_options=_OPTIONS)


def tf_files() -> list[Path]:
    return sorted(p for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts)


def module_of(path: Path) -> str:
    return str(path.parent.relative_to(TERRAFORM))


def blocks(kind: str) -> list[tuple[str, dict]]:
    """Top-level blocks of one kind (resource, data, module, variable, output, locals), with their module."""
    return [(module_of(p), block) for p in tf_files() for block in parse(p).get(kind, [])]


def resources(type_: str | None = None) -> list[Resource]:
    found = []
    for module, block in blocks("resource"):
        for rtype, named in block.items():
            for name, body in named.items():
                if type_ is None or rtype == type_:
                    found.append(Resource(module, rtype, name, body))
    return found


def one(type_: str, module: str | None = None) -> Resource:
    matches = [r for r in resources(type_) if module is None or r.module == module]
    assert len(matches) == 1, f"expected one {type_} in {module or 'terraform/'}, found {[m.address for m in matches]}"
    return matches[0]


def locals_of(module: str) -> dict:
    merged: dict = {}
    for mod, block in blocks("locals"):
        if mod == module:
            merged.update({k: v for k, v in block.items() if not k.startswith("__")})
    return merged


def sub_blocks(body: dict, name: str) -> list[dict]:
    """Static and dynamic sub-blocks called `name` (a dynamic block's `content`)."""
    found = list(body.get(name, []))
    for dynamic in body.get("dynamic", []):
        if name in dynamic:
            found += dynamic[name].get("content", [])
    return found


def module_call(name: str, caller: str = "modules/stack") -> dict:
    """Arguments of `module "<name>"` in the caller (the stack composes every module)."""
    calls = [b[name] for mod, b in blocks("module") if mod == caller and name in b]
    assert len(calls) == 1, f"expected one module {name!r} in {caller}"
    return calls[0]


_MOVED = re.compile(r"^moved \{.*?^\}", re.DOTALL | re.MULTILINE)


def source_text(moved: bool = True) -> str:
    """Every .tf file's text; moved=False leaves out `moved` blocks (history: static old and new
    addresses, the one place a topology name may appear)."""
    text = "\n".join(p.read_text() for p in tf_files())
    return text if moved else _MOVED.sub("", text)
