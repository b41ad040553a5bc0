"""The structure holds: the Lambda layer ships only the core, and dependencies point one way with no cycles.

The contracts themselves are in pyproject.toml ([tool.importlinter]); `make lint` runs them too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from importlinter import configuration
from importlinter.application.use_cases import lint_imports

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "autoscaler"
BUILT_LAYER = ROOT / ".aws-sam" / "build" / "ControllerLayer" / "python"
PACKAGES = ("genai_autoscaler", "genai_autoscaler_tools", "genai_autoscaler_local")
# What the layer's requirements.txt installs next to the core, and what Lambda's runtime provides.
NOT_IN_THE_LAYER = ("numpy", "yaml", "matplotlib", "moto", "hypothesis", *PACKAGES[1:])


def test_import_contracts_are_kept() -> None:
    # Given the contracts of pyproject.toml, when import-linter checks the three packages, then none is broken.
    configuration.configure()  # what the lint-imports command does first
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_logo=True, cache_dir=None), (
        "an import contract is broken: run `.venv/bin/lint-imports`"
    )


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """The import cycles (Tarjan's strongly connected components of more than one module)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in graph.modules:
                continue
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            component = []
            while (member := stack.pop()) != module:
                component.append(member)
            if component:
                cycles.append(sorted([module, *component]))

    for module in sorted(graph.modules):
        if module not in order:
            visit(module)
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    # Given every module of the core and the tools (imports made only for type checking included), then no
    # import cycle exists between modules.
    graph = grimp.build_graph(*PACKAGES)
    assert strongly_connected(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")
    assert strongly_connected(graph) == [["a", "b", "c"]]


@pytest.fixture(scope="module")
def layer_core(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The core as the layer's Makefile puts it in the layer (`make core`, the part `sam build` runs)."""
    artifacts = tmp_path_factory.mktemp("layer")
    subprocess.run(
        [
            "make",
            "--silent",
            "-C",
            str(LAYER),
            "core",
            f"ARTIFACTS_DIR={artifacts}",
            f"PYTHON={sys.executable}",
        ],
        check=True,
    )
    return artifacts / "python"


def source_files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*.py")}


def test_the_layer_holds_the_core_and_nothing_else(layer_core: Path) -> None:
    # Given the layer's code as the Makefile builds it
    shipped = source_files(layer_core)
    # Then it is exactly the core package: no CLI, simulator, in-memory ports or harness
    assert [entry.name for entry in layer_core.iterdir()] == ["genai_autoscaler"]
    assert shipped == source_files(LAYER)
    assert {path.split("/")[1] for path in shipped if path.count("/") > 1} == {"app", "aws", "domain"}
    assert not [
        path for path in shipped if "sim" in path.split("/") or path.endswith(("cli.py", "memory.py"))
    ]


@pytest.mark.skipif(
    not BUILT_LAYER.is_dir(), reason="run `make build` to check what sam build put in the layer"
)
def test_sam_build_put_nothing_but_the_core_and_its_requirements_in_the_layer() -> None:
    # Given the layer `make build` last built (its core may be older than the source; the Makefile's own build
    # is checked above), then none of the tools or their dependencies got in
    shipped = source_files(BUILT_LAYER / "genai_autoscaler")
    assert not [path for path in shipped if path.startswith("sim/") or path in ("cli.py", "app/memory.py")]
    assert not [name for name in NOT_IN_THE_LAYER if (BUILT_LAYER / name).exists()]


IMPORT_EVERYTHING = """
import importlib, importlib.abc, json, pkgutil, runpy, sys
from pathlib import Path

layer, functions, refused = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

class NotInTheLayer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in refused:
            raise ImportError(f"{name} is not in the Lambda layer")
        return None

sys.meta_path.insert(0, NotInTheLayer())
sys.path.insert(0, layer)
import genai_autoscaler
assert genai_autoscaler.__file__.startswith(layer), genai_autoscaler.__file__
for module in pkgutil.walk_packages(genai_autoscaler.__path__, "genai_autoscaler."):
    importlib.import_module(module.name)
for handler in sorted(Path(functions).glob("*/app.py")):
    runpy.run_path(str(handler))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("genai_autoscaler",))))
"""


def test_every_module_and_handler_imports_with_only_the_layer(layer_core: Path) -> None:
    # Given a Python that finds the layer's code and refuses what the layer does not ship
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            IMPORT_EVERYTHING,
            str(layer_core),
            str(ROOT / "functions"),
            json.dumps(NOT_IN_THE_LAYER),
        ],
        capture_output=True,
        text=True,
        cwd=layer_core,
        env={
            "PATH": "/usr/bin:/bin",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_METRICS_NAMESPACE": "Test",
        },
    )
    # Then every module of the core and every handler imports
    assert result.returncode == 0, result.stderr
    assert "genai_autoscaler.aws.wiring" in json.loads(result.stdout.splitlines()[-1])
