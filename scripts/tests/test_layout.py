"""The layout of scripts/ (docs/architecture.md, "Scripts"): one package per
room, absolute imports from the repository root and nothing that edits the
import path, every module importable, no import cycle among scripts' own
modules. Numpy + pytest only; modules whose optional dependencies (torch,
diffusers, ...) are missing are skipped."""
import ast
import importlib
import os

import pytest

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(SCRIPTS)
# Third-party packages some modules need; a module that fails to import only
# because one of these is missing is skipped, any other import error fails.
OPTIONAL = {"torch", "diffusers", "transformers", "accelerate", "onnx", "onnxruntime", "PIL", "ftfy", "regex",
            "cv2", "imwatermark", "open_clip", "tomli"}


def _py_files():
    out = []
    for root, dirs, files in os.walk(SCRIPTS):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        out += [os.path.join(root, f) for f in sorted(files) if f.endswith(".py")]
    return out


def _module(path):
    rel = os.path.relpath(path, REPO)[:-3].split(os.sep)
    if rel[-1] == "__init__":
        rel = rel[:-1]
    return ".".join(rel)


FILES = _py_files()
MODULES = {_module(p): p for p in FILES}


def test_every_folder_is_a_package():
    for root, dirs, files in os.walk(SCRIPTS):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        if any(f.endswith(".py") for f in files):
            assert "__init__.py" in files, f"{os.path.relpath(root, REPO)} has Python files but no __init__.py"


def test_nothing_edits_sys_path():
    needles = ["sys.path." + verb for verb in ("insert", "append", "extend")]
    bad = [f"{os.path.relpath(p, REPO)}:{i}" for p in FILES
           for i, line in enumerate(open(p, encoding="utf-8").read().splitlines(), 1)
           if any(n in line for n in needles)]
    assert not bad, "edits the import path (use absolute imports `from scripts.ROOM import NAME`): " + ", ".join(bad)


@pytest.mark.parametrize("name", sorted(m for m in MODULES if not m.startswith("scripts.tests.")))
def test_module_imports(name):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top in OPTIONAL:
            pytest.skip(f"{name} needs {top}")
        raise


def _imports(module, path):
    """The scripts.* modules `module` imports anywhere in its file (top level or in functions)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for n in names:
            # the longest prefix that is one of scripts' modules
            parts = n.split(".")
            for k in range(len(parts), 0, -1):
                cand = ".".join(parts[:k])
                if cand in MODULES:
                    if cand != module:
                        found.add(cand)
                    break
    return found


def test_no_import_cycle():
    graph = {m: _imports(m, p) for m, p in MODULES.items()}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_imports_are_absolute_from_the_root():
    """A room's module names its siblings through the package (`from scripts.factory import common`),
    never as a top-level module (`import common`), which only worked with the folder on sys.path."""
    own = {m.rsplit(".", 1)[-1] for m in MODULES if m != "scripts"} | {"scenes", "factory", "evaluate", "export", "fixtures", "bench",
                                                         "tools"}
    bad = []
    for m, p in MODULES.items():
        for node in ast.walk(ast.parse(open(p, encoding="utf-8").read(), p)):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                tops = [(node.module or "").split(".")[0]]
            else:
                continue
            bad += [f"{os.path.relpath(p, REPO)}:{node.lineno} {t}" for t in tops if t in own]
    assert not bad, "imports a script module by its bare name: " + ", ".join(bad)
