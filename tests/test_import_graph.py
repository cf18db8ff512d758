"""The package's import graph, read from the source (every import, including those inside functions):
no cycles, lower layers never import higher ones, and the light modules stay light."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gpen_video"
LOWER = ("media", "faces", "models", "restore", "upscale")  # the stages
HIGHER = ("live", "review", "batch", "job", "engine", "cli", "runtime")  # what puts the stages to work
ROOT_MODULES = {"__init__", "__main__", "_version", "types", "protocols", "errors", "config", "engine", "job", "cli"}


def module_name(path: Path) -> str:
    parts = ["gpen_video", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def area(module: str) -> str:
    """The package or root module a module belongs to: "media" for gpen_video.media.reader, "job" for gpen_video.job."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (``from .x import y`` counts y when y is a module).

    A module that is not in the package's source is kept too, so that a stale name can be caught: in a
    checkout beside an installed copy, it would otherwise import the other copy's module."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names if alias.name.startswith("gpen_video"))
                continue
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                if base.startswith("gpen_video") and base != name:
                    graph[name].add(base)
                graph[name].update(t for t in (f"{base}.{alias.name}" for alias in node.names) if t in files)
            else:
                continue
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_package_has_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the reader found the package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_every_import_of_the_package_names_one_of_its_modules() -> None:
    graph = import_graph()
    assert [f"{module} -> {target}" for module, targets in graph.items() for target in targets
            if target not in graph] == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_stages_never_import_what_puts_them_to_work() -> None:
    upward = [f"{module} -> {target}"
              for module, targets in import_graph().items() if area(module) in LOWER
              for target in targets if area(target) in HIGHER]
    assert upward == []


def test_the_package_root_keeps_only_its_public_face() -> None:
    assert {p.stem for p in PACKAGE.glob("*.py")} <= ROOT_MODULES


@pytest.mark.parametrize("module", ["gpen_video.live.result", "gpen_video.types", "gpen_video.protocols"])
def test_result_types_import_without_torch(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'cv2', 'av') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent).stdout.strip()
    assert "torch" not in loaded, loaded
