"""What a staged function bundle imports, checked inside the bundle (tests/unit/test_build.py runs it
as `python -I tests/bundle_imports.py <allowed distributions>` with build/<name>/ as working directory).

1. The code path: from the entry point (main.py), every module of the bundle the function can import
   and every import statement it can run, lazy ones inside functions included. Read statically at
   the granularity of top-level functions: every function of main.py is reachable (the framework
   calls the target by name), a module's body runs when it is imported, any other top-level function
   only counts once reachable code names it (`bootstrap.scheduler(...)`, `from m import f`, a
   registry entry), so a composition root's builder for another function stays off the path. A class
   counts whole (its methods run wherever an instance goes).
2. The guard: a finder first on sys.meta_path refuses any module whose file belongs to an installed
   distribution outside the allowed set (the function's requirements and their dependencies). The
   standard library and the bundle belong to no distribution and always import.
3. Every import statement of the code path is executed under the guard.

Prints JSON: the bundle modules imported, and the distributions the code path imports directly.
Exits non-zero (the ImportError's traceback) when the code path needs a distribution not allowed.
Standard library only. shared/ uses absolute imports; a relative one would fail here, loudly."""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import importlib.metadata
import json
import os
import re
import sys
from pathlib import Path

BUNDLE = Path.cwd()


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ----------------------------------------------------------------------------- 1. the code path


def bundle_file(name: str) -> Path | None:
    path = BUNDLE.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":`: never runs in a function."""
    test = node.test if isinstance(node, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


class Module:
    """One bundle module: its body (what runs on import), its top-level functions, and the dotted
    name each imported local name stands for."""

    def __init__(self, name: str, path: Path):
        self.name = name
        tree = ast.parse(path.read_text(), str(path))
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.body: list[ast.AST] = []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.functions[node.name] = node  # its decorators and defaults run on import
                self.body += [*node.decorator_list, *node.args.defaults, *filter(None, node.args.kw_defaults)]
            elif not is_main_guard(node):
                self.body.append(node)
        self.aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:  # `import a.b` binds a; `import a.b as c` binds c to a.b
                    bound = alias.asname or alias.name.split(".")[0]
                    self.aliases[bound] = alias.name if alias.asname else bound
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"


def code_path(entry: str = "main") -> tuple[list[str], list[ast.Import | ast.ImportFrom]]:
    """The bundle modules on the function's code path and the import statements it can run."""
    modules: dict[str, Module] = {}

    def module(name: str) -> Module | None:
        if name not in modules and (path := bundle_file(name)) is not None:
            modules[name] = Module(name, path)
        return modules.get(name)

    def units(dotted: str, depth: int = 0) -> list[tuple[str, str | None]]:
        """What naming `dotted` makes reachable: the body of each bundle module on its path and, for
        `module.function`, that function (followed through a re-export)."""
        parts, found, last = dotted.split("."), [], None
        for i in range(1, len(parts) + 1):
            if module(".".join(parts[:i])) is None:
                break
            last = i
            found.append((".".join(parts[:i]), None))
        if last is not None and last < len(parts) and depth < 10:
            mod, attr = modules[".".join(parts[:last])], parts[last]
            if attr in mod.functions:
                found.append((mod.name, attr))
            elif attr in mod.aliases:
                found += units(mod.aliases[attr], depth + 1)
        return found

    statements: dict[str, ast.Import | ast.ImportFrom] = {}
    seen: set[tuple[str, str | None]] = set()
    todo: list[tuple[str, str | None]] = units(entry)
    todo += [(entry, name) for name in modules[entry].functions]  # the framework calls the target by name
    while todo:
        unit = todo.pop()
        if unit in seen:
            continue
        seen.add(unit)
        mod = modules[unit[0]]
        nodes = mod.body if unit[1] is None else [mod.functions[unit[1]]]
        for node in (sub for top in nodes for sub in ast.walk(top)):
            if isinstance(node, ast.Import | ast.ImportFrom):
                statements.setdefault(ast.unparse(node), node)
                for alias in node.names:
                    name = alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
                    todo += units(name)
            elif isinstance(node, ast.Name):
                if node.id in mod.functions:
                    todo.append((mod.name, node.id))
                elif node.id in mod.aliases:
                    todo += units(mod.aliases[node.id])
            elif isinstance(node, ast.Attribute) and (dotted := dotted_name(node)):
                head, _, rest = dotted.partition(".")
                if head in mod.aliases:
                    todo += units(f"{mod.aliases[head]}.{rest}")
    return sorted({name for name, _ in seen}), [statements[k] for k in sorted(statements)]


def dotted_name(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


# ----------------------------------------------------------------------------- 2. the guard


def distribution_files() -> dict[str, set[str]]:
    """Installed file (real path) -> the distributions that install it."""
    owners: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions():
        name = canonical(dist.metadata["Name"])
        for file in dist.files or ():
            owners.setdefault(os.path.realpath(dist.locate_file(file)), set()).add(name)
    return owners


class Refuse(importlib.abc.MetaPathFinder):
    """Refuses modules of distributions outside `allowed`; leaves every other lookup to the finders
    after it."""

    def __init__(self, allowed: set[str], owners: dict[str, set[str]]):
        self.allowed, self.owners = allowed, owners

    def find_spec(self, name, path, target=None):
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        origin = spec.origin if spec is not None else None
        owners = self.owners.get(os.path.realpath(origin), set()) if origin else set()
        if owners and not owners & self.allowed:
            # No `name=`: `from package import module` would take the error for a missing attribute.
            raise ModuleNotFoundError(
                f"{name} is installed by {', '.join(sorted(owners))}: not in this function's requirements"
            )
        return None


# ----------------------------------------------------------------------------- 3. import the code path


def imported_module(node: ast.Import | ast.ImportFrom):
    """The module objects an executed import statement names."""
    if isinstance(node, ast.Import):
        return [sys.modules[alias.name] for alias in node.names]
    return [sys.modules.get(f"{node.module}.{alias.name}", sys.modules[node.module]) for alias in node.names]


def main(argv: list[str]) -> int:
    allowed = {canonical(n) for n in argv[0].split(",") if n}
    owners = distribution_files()
    bundle_modules, statements = code_path()
    sys.path.insert(0, str(BUNDLE))
    sys.meta_path.insert(0, Refuse(allowed, owners))
    direct: set[str] = set()
    for node in [ast.parse("import main").body[0], *statements]:
        exec(compile(ast.Module([node], []), "<code path>", "exec"), {})  # noqa: S102 - the bundle's own statements
        top = node.names[0].name if isinstance(node, ast.Import) else node.module
        if bundle_file(top.split(".")[0]) is None:
            for mod in imported_module(node):
                file = getattr(mod, "__file__", None)
                direct |= owners.get(os.path.realpath(file), set()) if file else set()
    outside = [
        name
        for name, mod in sys.modules.items()
        if name.split(".")[0] in {m.split(".")[0] for m in bundle_modules}
        and getattr(mod, "__file__", None)
        and not Path(mod.__file__).resolve().is_relative_to(BUNDLE.resolve())
    ]
    if outside:
        raise SystemExit(f"imported from outside the bundle: {outside}")
    print(json.dumps({"modules": bundle_modules, "distributions": sorted(direct)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
