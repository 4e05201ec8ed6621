"""The package's layers (docs/design.md section 5), read from the source so a new import that breaks a rule fails here:

    foundation (unseen/*.py: errors, specs, timing, registry, images, data)
      < method (ddim, prior, symmetry, geometry, sources) < models < evaluation < worlds (tiny, emoji)
      < job (the run: entry points, checks, pipeline, output ...) < baselines

A layer imports its own and the layers below it only; the job layer imports the worlds only in its composition
roots (api, cli) that wire them; the package's imports, function-level ones and the package root included, form no
circle; only the entry layer (api, cli, config, checks, choices) imports omegaconf; and nothing but the entry points
and the CLI's own tests imports ``unseen.job.cli``."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "unseen"
ORDER = ["foundation", "method", "models", "evaluation", "worlds", "job", "baselines"]
WIRING = {"api", "cli"}  # the job layer's composition roots: they plug the worlds into the registry
# the package's own entries: the root's lazy API, ``python -m unseen`` and the old module paths kept for a while
ENTRIES = {"__init__", "__main__", "convert", "finetune", "world"}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("worlds", "world"):
        return "worlds"
    if len(parts) > 1 and parts[1] in ORDER:
        return parts[1]
    return "foundation"


def imports(file: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.lineno, node.module))
            # `from unseen.job import api` names the module in the alias
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names if node.module.startswith("unseen")]
    return out


def violations(package: Path = PACKAGE) -> list[str]:
    bad = []
    for f in sorted(package.rglob("*.py")):
        rel = f.relative_to(package)
        if len(rel.parts) == 1 and f.stem in ENTRIES or rel.parts[0] == "world":
            continue
        here, seen = layer_of(module_name(f, package)), set()
        for line, name in imports(f):
            if line in seen:  # one report per import statement
                continue
            if not name.startswith("unseen.") or name.split(".")[1] in ENTRIES:
                continue
            there = layer_of(name)
            wiring = here == "job" and there == "worlds" and f.stem in WIRING
            if ORDER.index(there) > ORDER.index(here) and not wiring:
                bad.append(f"{f.relative_to(package.parent)}:{line} ({here}) imports {name} ({there})")
                seen.add(line)
            elif here in ("job", "baselines") and there == "worlds" and not wiring:
                bad.append(f"{f.relative_to(package.parent)}:{line} ({here}) imports {name} ({there})")
                seen.add(line)
    return bad


def module_name(file: Path, package: Path) -> str:
    parts = list(file.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package's modules it imports, packages' __init__ among them: `from unseen.job import api` names
    unseen.job.api where that is a module, and the package itself where api is a name its __init__ defines
    (``from unseen import __version__``); ``import unseen`` names the root."""
    files = {module_name(f, package): f for f in package.rglob("*.py")}
    edges = {}
    for name, f in files.items():
        targets = set()
        for imported in _imported_modules(f, files):
            while imported and imported not in files:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


def _imported_modules(file: Path, files: dict) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # from a package: the module named, or the package where the name is one of its __init__'s
            out += [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module for a in node.names]
    return out


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
    pkg = tmp_path / "unseen"
    for d in ("method", "job", "worlds/tiny", "evaluation"):
        (pkg / d).mkdir(parents=True)
    (pkg / "method" / "ddim.py").write_text("from unseen.evaluation import scorer\n")  # method -> evaluation
    (pkg / "worlds" / "tiny" / "x.py").write_text("import unseen.job.pipeline\nfrom unseen.job import api\n")
    (pkg / "job" / "pipeline.py").write_text("from unseen.worlds.tiny import domains\n")  # not a wiring root
    (pkg / "job" / "api.py").write_text("from unseen.worlds.tiny import plugin\n")  # wiring: allowed
    (pkg / "evaluation" / "scorer.py").write_text("from unseen.method import ddim\nfrom unseen import errors\n")
    found = violations(pkg)
    assert len(found) == 4 and not any("api.py" in v for v in found) and not any("scorer.py" in v for v in found)


def test_the_package_imports_form_no_circle():
    assert cycles(graph()) == []


def test_a_circle_hidden_in_a_function_is_found(tmp_path):
    pkg = tmp_path / "unseen"
    (pkg / "job").mkdir(parents=True)
    for f in ("__init__.py", "job/__init__.py"):
        (pkg / f).write_text("")
    (pkg / "job" / "auto.py").write_text("def f():\n    from unseen.job.pipeline import run\n")
    (pkg / "job" / "pipeline.py").write_text("from unseen.job import auto\n")
    (pkg / "ddim.py").write_text("import torch\n")
    assert cycles(graph(pkg)) == [["unseen.job.auto", "unseen.job.pipeline", "unseen.job.auto"]]


def test_a_circle_through_the_package_root_is_found(tmp_path):
    pkg = tmp_path / "unseen"
    (pkg / "job").mkdir(parents=True)
    (pkg / "__init__.py").write_text("def __getattr__(name):\n    from unseen.job import api\n")
    (pkg / "job" / "__init__.py").write_text("")
    (pkg / "job" / "api.py").write_text("from unseen.job import provenance\n")
    (pkg / "job" / "provenance.py").write_text("def f():\n    import unseen\n    return unseen.__version__\n")
    assert cycles(graph(pkg)) == [["unseen", "unseen.job.api", "unseen.job.provenance", "unseen"]]
    (pkg / "job" / "provenance.py").write_text("from unseen import __version__\n")  # a name of the root: the root
    assert cycles(graph(pkg)) == [["unseen", "unseen.job.api", "unseen.job.provenance", "unseen"]]


def test_only_the_entry_points_and_the_cli_tests_import_the_cli():
    allowed = {ROOT / "run.py", PACKAGE / "__main__.py", PACKAGE / "job" / "cli.py", ROOT / "tests" / "job" / "test_cli.py",
               ROOT / "tests" / "helpers.py", Path(__file__)}
    files = [*ROOT.glob("*.py"), *(p for d in ("unseen", "experiments", "benchmarks", "tests")
                                   for p in (ROOT / d).rglob("*.py"))]
    bad = [f"{f.relative_to(ROOT)}:{line}" for f in files if f not in allowed
           for line, name in imports(f) if name == "unseen.job.cli" or name.startswith("unseen.job.cli.")]
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
           if not (f.parent == PACKAGE / "job" and f.stem in READS_THE_CONFIG)
           for line, name in imports(f) if name.split(".")[0] == "omegaconf"]
    assert bad == []


def test_every_module_lives_in_its_layer():
    """The package root holds the foundation and the entries only; every other module is in a layer's folder."""
    foundation = {"errors", "specs", "timing", "registry", "images", "data", "_version"}
    loose = {f.stem for f in PACKAGE.glob("*.py")} - foundation - ENTRIES
    assert loose == set()
