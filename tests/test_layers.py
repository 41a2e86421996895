"""The import graph: every arrow points down the layers, each room imports only what it may, and no circle.

Layers, top to bottom: afterword_cli → cli → flows → train → pipelines → schemas. Inside `pipelines`, the
model side (`pipelines/backends/`) and the storage root (`pipelines/store/`) are rooms the stages use and
that use no stage. Imports under `if TYPE_CHECKING:` are annotations only and draw no arrow.
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "pipelines", "train", "flows", "cli")
# Each package and the top-level packages its modules may not import.
FORBIDDEN = {
    "schemas": ("pipelines", "train", "flows", "cli", "afterword_cli"),
    "pipelines": ("train", "flows", "cli", "afterword_cli"),
    "train": ("flows", "cli", "afterword_cli"),
    "flows": ("cli", "afterword_cli"),
    "cli": ("afterword_cli",),
}
# Rooms inside `pipelines` and the only pipelines modules (or rooms) they may import: the model side scores
# hindsight sequences and reports progress; the storage root reads and writes files and raises InputError.
ROOMS = {
    "pipelines.backends": ("pipelines.backends", "pipelines.hindsight", "pipelines.progress"),
    # objectstore: the file-or-URL layer, shared like io by the stages (inputs) and the store (roots).
    "pipelines.store": ("pipelines.store", "pipelines.io", "pipelines.errors", "pipelines.objectstore"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    paths = [REPO / "afterword_cli.py", *(p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py")))]
    return {module_name(path): path for path in paths}


def runtime_imports(path: Path) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, those inside functions included, those under TYPE_CHECKING not."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    annotation_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            annotation_only.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in annotation_only]


def imported_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules a module imports (`from pipelines import io` names pipelines.io)."""
    found = set()
    for node in runtime_imports(path):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif node.module and not node.level and node.module in modules:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & set(modules)
            found.update(submodules or {node.module})
            if len(submodules) < len(node.names):  # names defined in the package itself
                found.add(node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imported_modules(path, modules) - {name} for name, path in modules.items()}


def in_room(module: str, room: str) -> bool:
    return module == room or module.startswith(room + ".")


def test_no_module_imports_from_a_layer_above_its_own():
    offending = []
    for module, imports in sorted(import_graph().items()):
        forbidden = FORBIDDEN.get(module.split(".")[0], ())
        offending += [f"{module} imports {name}" for name in sorted(imports) if name.split(".")[0] in forbidden]
    assert offending == []


def test_the_model_side_and_the_storage_root_import_no_stage():
    offending = []
    for module, imports in sorted(import_graph().items()):
        for room, allowed in ROOMS.items():
            if in_room(module, room):
                inside = [name for name in imports if name.startswith("pipelines")]
                offending += [
                    f"{module} imports {name}" for name in sorted(inside) if not any(in_room(name, a) for a in allowed)
                ]
    assert offending == []


def test_the_import_graph_has_no_circle():
    graph = import_graph()
    state: dict[str, str] = {}  # module → "open" while on the current path, "done" once fully explored
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for name in sorted(graph[module]):
            if state.get(name) == "open":
                circles.append(" → ".join([*path[path.index(name) :], name]))
            elif name not in state:
                visit(name, [*path, name])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []
