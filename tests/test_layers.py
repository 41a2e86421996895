"""The layers import downwards only: schemas → pipelines → train → flows → CLI."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Each package and the top-level packages its modules may not import.
FORBIDDEN = {
    "schemas": ("pipelines", "train", "flows", "afterword_cli"),
    "pipelines": ("train", "flows", "afterword_cli"),
    "train": ("flows", "afterword_cli"),
    "flows": ("afterword_cli",),
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_imports_from_a_layer_above_its_own():
    offending = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((REPO / package).rglob("*.py")):
            above = imported_packages(path) & set(forbidden)
            offending += [f"{path.relative_to(REPO)} imports {name}" for name in sorted(above)]
    assert offending == []
