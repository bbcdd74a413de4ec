"""The layers of the house: archspec's packages import one way, along the pipeline, and nothing cycles.

    lang → ir → kinds → build → passes → pipeline → report → draw → pytorch → api → train → cli

Every `import` in every module counts, those inside functions included (lazy imports are still
dependencies). A module may import its own package and the packages before it, never one after it;
`version`, `diagnostics` and `files` sit below everything. Torch is imported by the `pytorch` package only
(`archspec.train` is the public face of `archspec.pytorch.train`, imported lazily).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "archspec"
LAYERS = ["version", "diagnostics", "files", "lang", "ir", "kinds", "build", "passes", "pipeline", "report", "draw",
          "pytorch", "api", "train", "cli"]
TORCH_HOMES = ("pytorch",)


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        rel = p.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """(imported archspec module or package, line) for every import statement, `TYPE_CHECKING` blocks aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    out = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base]) if base else ".".join(parent)
            for a in node.names:
                full = f"{base}.{a.name}"
                out.append((full if full in MODULES else base, node.lineno))
    return out


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "archspec":
        return None
    if len(parts) == 1:
        return len(LAYERS)  # the package's own __init__: the public face, above everything
    top = parts[1]
    return LAYERS.index(top) if top in LAYERS else None


def test_every_module_belongs_to_a_layer():
    strays = [m for m in MODULES if m != "archspec" and _layer(m) is None and m != "archspec.__main__"]
    assert not strays, f"modules outside the layers {LAYERS}: {strays}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_run_one_way(name):
    here = _layer(name)
    if here is None or name == "archspec.__main__":
        return
    wrong = []
    for target, line in _imports(name, MODULES[name]):
        there = _layer(target)
        if there is not None and there > here:
            wrong.append(f"{MODULES[name].name}:{line} imports {target} ({LAYERS[there] if there < len(LAYERS) else 'archspec'})")
        top = target.split(".")[0]
        if top == "torch" and name.split(".")[1] not in TORCH_HOMES:
            wrong.append(f"{MODULES[name].name}:{line} imports torch outside {TORCH_HOMES}")
    assert not wrong, f"{name} ({LAYERS[here] if here < len(LAYERS) else 'archspec'}) imports against the pipeline:\n" \
        + "\n".join(wrong)


def test_no_import_cycles():
    import networkx as nx

    g = nx.DiGraph()
    for name, path in MODULES.items():
        for target, _ in _imports(name, path):
            while target not in MODULES and "." in target:
                target = target.rpartition(".")[0]
            if target in MODULES and target != name and not name.startswith(target + "."):
                g.add_edge(name, target)
    cycles = list(nx.simple_cycles(g))
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join([*c, c[0]]) for c in cycles[:10])


def test_an_analysis_is_freed_without_the_collector():
    """A graph and its builder hold no reference cycle: with the collector off (as while analysing, and in
    a sweep's thousands of builds) they go when the last reference does, not when the collector runs."""
    import gc

    import archspec

    spec = archspec.load("resnet")
    archspec.analyze(spec, depth=50)
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        archspec.analyze(spec, depth=50)
        gc.collect()
        kinds = {type(o).__name__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was:
            gc.enable()
    assert not kinds & {"Node", "Graph", "Builder", "Analysis", "Scope", "Meta"}, kinds


def test_analyses_in_one_process_do_not_leak_into_each_other():
    """The layers' caches shared by the analyses of a process (arguments, shapes, costs, fields) give every
    analysis the figures it gives alone: ResNet-50 before and after others, at another size in between, with
    ACCEPTANCE.md's figures (the paper's variant)."""
    import json

    import archspec

    first = json.loads(archspec.analyze("resnet", depth=50).to_json())
    archspec.analyze("vgg16")
    archspec.analyze("resnet", depth=50, input="3x160x160")
    archspec.analyze("resnet", depth=101, variant="torchvision")
    again = json.loads(archspec.analyze("resnet", depth=50).to_json())
    assert again == first
    assert (first["totals"]["params"], first["totals"]["buffers"], first["totals"]["macs"]) == \
        (25_557_032, 53_120, 3_857_973_248)
