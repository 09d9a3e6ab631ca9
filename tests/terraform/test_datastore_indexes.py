"""Every composite Datastore query the code declares has an index in topology/datastore_indexes.json
(which Terraform creates), every index there is used or planned, and no composite query is written
around shared/adapters/datastore_indexes.py (where it would run on the emulator and fail in production)."""

import ast
import importlib
import importlib.util
import json
import pkgutil

import shared
from shared.adapters.datastore_indexes import CompositeQuery, registered
from shared.adapters.datastore_store import INDEXED
from shared.config import REPO_ROOT
from tests.terraform.hcl import module_call, one, sub_blocks

REGISTRY = json.loads((REPO_ROOT / "topology" / "datastore_indexes.json").read_text())["indexes"]
CODE = sorted((REPO_ROOT / "shared").rglob("*.py")) + sorted((REPO_ROOT / "functions").rglob("*.py"))


def declared_queries() -> dict[str, CompositeQuery]:
    found = {}
    modules = [importlib.import_module(m.name) for m in pkgutil.walk_packages(shared.__path__, "shared.")]
    for main in sorted((REPO_ROOT / "functions").glob("*/main.py")):
        spec = importlib.util.spec_from_file_location(f"function_{main.parent.name}", main)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    for module in modules:
        for attr, value in vars(module).items():
            if isinstance(value, CompositeQuery):
                found[f"{module.__name__}.{attr}"] = value
    return found


def test_every_declared_composite_query_has_an_index():
    missing = {name: q for name, q in declared_queries().items() if not registered(q)}
    assert not missing, f"add these to topology/datastore_indexes.json: {missing}"


def test_every_index_is_used_or_planned():
    declared = list(declared_queries().values())
    for entry in REGISTRY:
        used = any(q.kind == entry["kind"] and registered(q) for q in declared)
        assert used or entry.get("planned"), f"index {entry['name']} is used by no CompositeQuery and not planned"


def test_registry_is_well_formed_and_indexable():
    names = [e["name"] for e in REGISTRY]
    assert len(names) == len(set(names))
    for entry in REGISTRY:
        props = [p["name"] for p in entry["properties"]]
        assert len(props) >= 2 and len(set(props)) == len(props), entry["name"]
        assert all(p.get("direction", "asc") in ("asc", "desc") for p in entry["properties"]), entry["name"]
        # A property excluded from indexes (shared/adapters/datastore_store.py) is invisible to every index.
        if entry["kind"] in INDEXED:
            excluded = set(props) - INDEXED[entry["kind"]]
            assert not excluded, f"{entry['name']}: {excluded} are excluded from indexes by datastore_store.INDEXED"


def test_no_composite_query_outside_the_declared_ones():
    offences = []
    for path in CODE:
        if path.name == "datastore_indexes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(REPO_ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name == "PropertyFilter":
                    op = node.args[1] if len(node.args) > 1 else None
                    if not (isinstance(op, ast.Constant) and op.value == "="):
                        offences.append(f"{where}: inequality filter")
                if name == "query" and any(k.arg == "order" for k in node.keywords):
                    offences.append(f"{where}: sort order")
            if isinstance(node, ast.Assign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Attribute) and t.attr == "order" for t in targets):
                    offences.append(f"{where}: sort order")
    assert not offences, f"declare these as CompositeQuery (shared/adapters/datastore_indexes.py): {offences}"


def test_terraform_creates_each_registered_index_in_datastore_mode():
    assert module_call("datastore")["indexes"] == "${local.indexes}"
    index = one("google_firestore_index").body
    assert index["for_each"] == "${{for index in var.indexes : index.name => index}}"
    assert index["api_scope"] == "DATASTORE_MODE_API"
    assert index["collection"] == "${each.value.kind}"
    assert "COLLECTION_GROUP" in index["query_scope"]
    (fields,) = sub_blocks(index, "fields")
    assert fields["field_path"] == "${fields.value.name}"
    db = one("google_firestore_database").body
    assert db["type"] == "DATASTORE_MODE"
