"""Dependencies run one way (docs/design.md section 3b): only the composition roots (the CLI and the Python API)
import the tiny world; the tiny world never imports the pipeline, the CLI or the API; the package's imports,
function-level ones included, form no circle; and nothing but the entry points (run.py, ``python -m unseen``)
and the CLI's own tests imports ``unseen.cli``. Read from the source, so a new import that breaks a rule fails
here."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "unseen"
WIRING = {"cli", "__main__", "api"}


def imports(file: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.lineno, node.module))
            # `from unseen import world` names the module in the alias
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names if node.module == "unseen"]
    return out


def violations(package: Path = PACKAGE) -> list[str]:
    bad = []
    for f in sorted(package.rglob("*.py")):
        in_world, wiring = "world" in f.relative_to(package).parts, f.stem in WIRING and f.parent == package
        for line, name in imports(f):
            if not in_world and not wiring and name.startswith("unseen.world"):
                bad.append(f"{f.relative_to(package.parent)}:{line} imports {name}")
            if in_world and name.startswith(("unseen.pipeline", "unseen.cli", "unseen.__main__", "unseen.api")):
                bad.append(f"{f.relative_to(package.parent)}:{line} imports {name}")
    return bad


def module_name(file: Path, package: Path) -> str:
    parts = list(file.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package's modules it imports, the package root (its __init__) among them: `from unseen import
    x` names unseen.x where that is a module, and the root itself where x is a name the root defines
    (``unseen.__version__``); ``import unseen`` names the root."""
    files = {module_name(f, package): f for f in package.rglob("*.py")}
    edges = {}
    for name, f in files.items():
        targets = set()
        for imported in _imported_modules(f, package.name):
            while imported and imported not in files:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


def _imported_modules(file: Path, root: str) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == root:  # from unseen import x: the module x, or the root where x is one of its names
                out += [f"{root}.{a.name}" if _is_module(file, root, a.name) else root for a in node.names]
            else:
                out.append(node.module)
    return out


def _is_module(file: Path, root: str, name: str) -> bool:
    top = next(p for p in [file.parent, *file.parents] if p.name == root)
    return (top / f"{name}.py").is_file() or (top / name / "__init__.py").is_file()


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every circle found by a depth-first walk (each reported once, from where it was entered)."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_dependencies_run_one_way():
    assert violations() == []


def test_the_rule_catches_an_upward_import(tmp_path):
    (tmp_path / "world").mkdir()
    (tmp_path / "pipeline.py").write_text("from unseen.world import domains\n")
    (tmp_path / "world" / "x.py").write_text("import unseen.pipeline\nfrom unseen import cli\n")
    (tmp_path / "cli.py").write_text("from unseen.world import plugin\n")
    found = violations(tmp_path)
    assert len(found) == 3 and not any("cli.py" in v for v in found)


def test_the_package_imports_form_no_circle():
    assert cycles(graph()) == []


def test_a_circle_hidden_in_a_function_is_found(tmp_path):
    pkg = tmp_path / "unseen"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "auto.py").write_text("def f():\n    from unseen.pipeline import run\n")
    (pkg / "pipeline.py").write_text("from unseen import auto\n")
    (pkg / "ddim.py").write_text("import torch\n")
    assert cycles(graph(pkg)) == [["unseen.auto", "unseen.pipeline", "unseen.auto"]]


def test_a_circle_through_the_package_root_is_found(tmp_path):
    pkg = tmp_path / "unseen"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("def __getattr__(name):\n    from unseen import api\n")
    (pkg / "api.py").write_text("from unseen import provenance\n")
    (pkg / "provenance.py").write_text("def f():\n    import unseen\n    return unseen.__version__\n")
    assert cycles(graph(pkg)) == [["unseen", "unseen.api", "unseen.provenance", "unseen"]]
    (pkg / "provenance.py").write_text("from unseen import __version__\n")  # a name of the root: the root
    assert cycles(graph(pkg)) == [["unseen", "unseen.api", "unseen.provenance", "unseen"]]


def test_only_the_entry_points_and_the_cli_tests_import_the_cli():
    allowed = {ROOT / "run.py", PACKAGE / "__main__.py", PACKAGE / "cli.py", ROOT / "tests" / "test_cli.py",
               Path(__file__)}
    files = [*ROOT.glob("*.py"), *(p for d in ("unseen", "experiments", "benchmarks", "tests")
                                   for p in (ROOT / d).rglob("*.py"))]
    bad = [f"{f.relative_to(ROOT)}:{line}" for f in files if f not in allowed
           for line, name in imports(f) if name == "unseen.cli" or name.startswith("unseen.cli.")]
    assert bad == []


def test_modules_share_public_names_only():
    """A helper one module lends another is public (no leading underscore): the worlds and the layers share what
    they promise to keep, not each other's internals."""
    bad = []
    for d in ("unseen", "experiments", "benchmarks", "scripts"):
        for f in sorted((ROOT / d).rglob("*.py")):
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("unseen"):
                    bad += [f"{f.relative_to(ROOT)}:{node.lineno} {node.module}.{a.name}" for a in node.names
                            if a.name.startswith("_") and not a.name.startswith("__")]
    assert bad == []


# The entry layer composes, settles and checks the config, then turns it once into the typed specs
# (unseen.specs); everything below it (the pipeline and its stages, output, tracking, auto, the method, the models,
# evaluation, the worlds) is told by those dataclasses and tensors.
READS_THE_CONFIG = {"api", "cli", "config", "checks", "choices"}


def test_only_the_entry_layer_imports_omegaconf():
    bad = [f"{f.relative_to(ROOT)}:{line}" for f in sorted(PACKAGE.rglob("*.py"))
           if not (f.parent == PACKAGE and f.stem in READS_THE_CONFIG)
           for line, name in imports(f) if name.split(".")[0] == "omegaconf"]
    assert bad == []
