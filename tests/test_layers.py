"""Dependencies run one way (docs/design.md section 5): only the CLI wiring imports the tiny world, and the tiny
world never imports the pipeline or the CLI. Read from the source, so a new import that breaks it fails here."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "unseen"
WIRING = {"cli", "__main__"}


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
            if in_world and name.startswith(("unseen.pipeline", "unseen.cli", "unseen.__main__")):
                bad.append(f"{f.relative_to(package.parent)}:{line} imports {name}")
    return bad


def test_dependencies_run_one_way():
    assert violations() == []


def test_the_rule_catches_an_upward_import(tmp_path):
    (tmp_path / "world").mkdir()
    (tmp_path / "pipeline.py").write_text("from unseen.world import domains\n")
    (tmp_path / "world" / "x.py").write_text("import unseen.pipeline\nfrom unseen import cli\n")
    (tmp_path / "cli.py").write_text("from unseen.world import plugin\n")
    found = violations(tmp_path)
    assert len(found) == 3 and not any("cli.py" in v for v in found)
