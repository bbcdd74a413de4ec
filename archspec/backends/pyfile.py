"""The standalone file of a compiled spec (`archspec compile -o`): imports, the helper modules it uses
(inlined from archspec's source), the network's classes with their constructors and forward methods.

Values that differ between a class's instances become the class's constructor parameters, named after
the block's parameters where they match (`Stage(in_channels, c)`), after the layer's argument otherwise.
"""

from __future__ import annotations

from typing import Any

from archspec.backends.codegen import (
    VAR_RESERVED,
    ClassDef,
    Container,
    Plan,
    ident,
    import_lines,
    output_class_lines,
    unique,
)
from archspec.backends.constructors import Call, CodegenError, Lit, literal


def file_source(plan: Plan, header: list[str], example_inputs: list[tuple[int, ...]]) -> str:
    """A Python file that imports only torch and defines the network's classes, readable like torchvision."""
    if plan.errors:
        node, why = next(iter(plan.errors.items()))
        raise CodegenError(f"layer `{node}`: {why}")
    helper_imports, helper_code = helper_sources(plan.helpers)
    lines = ['"""' + "\n".join(header) + '\n"""', "", *import_lines(plan, helper_imports), ""]
    for block in helper_code:
        lines += ["", block.rstrip("\n"), ""]
    lines += output_class_lines(plan)
    inits = _inits(plan)
    for cd in plan.classes:
        lines += ["", f"class {cd.name}(nn.Module):"]
        params = "".join(f", {p}{_annotation(cd, k)}" for k, p in enumerate(cd.params))
        lines.append(f"    def __init__(self{params}) -> None:")
        lines += ["        " + ln for ln in "\n".join(["super().__init__()", *inits[cd.name]]).split("\n")]
        body = cd.instances[0].forward
        if body:
            lines.append("")
            lines += ["    " + ln if ln else "" for ln in body]
        lines.append("")
    shapes = ", ".join(f"torch.randn({', '.join(map(str, (1, *s)))})" for s in example_inputs)
    lines += ["", 'if __name__ == "__main__":', f"    model = {plan.root_class}().eval()",
              "    with torch.no_grad():", f"        y = model({shapes})",
              f'    print("{plan.root_class}:", sum(p.numel() for p in model.parameters()), "parameters, output",'
              ' tuple(y.shape))', ""]
    return "\n".join(lines)


def _inits(plan: Plan) -> dict[str, list[str]]:
    """Each class's __init__ body; values that differ between a class's instances become its parameters."""
    out: dict[str, list[str]] = {}
    for cd in plan.classes:
        trees: list[list[tuple[str, Call]]] = []
        for c in cd.instances:
            row = []
            for attr, ch in c.children.items():
                if isinstance(ch, Container):
                    child_cd = next(x for x in plan.classes if x.name == ch.cls)
                    row.append((attr, Call(ch.cls, tuple((None, Lit(v)) for v in ch.ctor_args), tuple(child_cd.params))))
                else:
                    call = plan.calls[ch]
                    assert call is not None
                    row.append((attr, call))
            trees.append(row)
        slots: dict[tuple[Any, ...], str] = {}
        params: list[str] = []
        for c in cd.instances:
            c.ctor_args = []

        def lift(calls: list[Call], owner: str, _slots: dict[tuple[Any, ...], str] = slots,
                 _params: list[str] = params, _cd: ClassDef = cd) -> str:
            first = calls[0]
            parts = []
            for j, (kw, arg) in enumerate(first.args):
                pname = first.params[j] if j < len(first.params) else f"arg{j}"
                if isinstance(arg, Call):
                    text = lift([x.args[j][1] for x in calls], owner)  # type: ignore[misc]
                else:
                    values = tuple(x.args[j][1].value for x in calls)  # type: ignore[union-attr]
                    if len({_hashable(v) for v in values}) == 1:
                        text = literal(values[0])
                    else:
                        key = tuple(_hashable(v) for v in values)
                        name = _slots.get(key)
                        if name is None:
                            name = _param_name(_cd, values, pname, owner, _params)
                            _slots[key] = name
                            _params.append(name)
                            for inst, v in zip(_cd.instances, values):
                                inst.ctor_args.append(v)
                        text = name
                parts.append(text if kw is None else f"{kw}={text}")
            text = f"{first.func}({', '.join(parts)})"
            if first.func == "nn.Sequential" and len(text) > 80:  # one layer a line, as one writes it
                text = f"{first.func}(\n" + "".join(f"    {p},\n" for p in parts) + ")"
            return text

        body = []
        for k, (attr, _) in enumerate(trees[0]):
            body.append(f"self.{attr} = {lift([t[k][1] for t in trees], attr)}")
        cd.params = params
        if cd.instances[0] is plan.root:
            body += _root_extras(plan)
        out[cd.name] = body
    return out


def _annotation(cd: ClassDef, k: int) -> str:
    types = {type(c.ctor_args[k]) for c in cd.instances}
    if len(types) != 1:
        return ""
    t = types.pop()
    return f": {t.__name__}" if t in (int, float, bool, str, tuple, list) else ""


def _hashable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, tuple(_hashable(x) for x in v))
    return (type(v).__name__, v)


def _param_name(cd: ClassDef, values: tuple[Any, ...], pname: str, owner: str, taken: list[str]) -> str:
    for arg in cd.instances[0].args:
        if all(_hashable(inst.args.get(arg)) == _hashable(v) for inst, v in zip(cd.instances, values)):
            name = ident(arg, VAR_RESERVED)
            if name not in taken:
                return name
    name = ident(pname, VAR_RESERVED)
    if name in taken:
        name = unique(ident(f"{owner}_{pname}", VAR_RESERVED), set(taken))
    return name


def _root_extras(plan: Plan) -> list[str]:
    """Frozen layers, fixed weights and the outputs' loss weights."""
    g = plan.graph
    lines: list[str] = []
    frozen = [c for c in plan.containers[1:] if c.nodes and all(g.nodes[n]["frozen"] for n in c.nodes)]
    covered: set[str] = set()
    for c in frozen:
        if c.parent is not None and c.parent in frozen:
            continue
        lines.append(f"self.{c.path}.requires_grad_(False)")
        covered.update(c.nodes)
    for n, path in plan.paths.items():
        if n in covered:
            continue
        m = plan.modules[n]
        if g.nodes[n]["frozen"] and any(True for _ in m.parameters()):
            lines.append(f"self.{path}.requires_grad_(False)")
            continue
        for pname, p in m.named_parameters():
            if not p.requires_grad:
                lines.append(f"self.{path}.{pname}.requires_grad_(False)")
    if lines:
        lines.insert(0, "# not trained: frozen in the spec, or fixed weights")
    weights = ", ".join(f"{literal(f)}: {literal(w)}" for f, _, w in plan.outputs)
    lines += ["# the loss weight of each output (auxiliary heads)" if len(plan.outputs) > 1 else
              "# the loss weight of the output", f"self.loss_weights = {{{weights}}}"]
    return lines


# -- helper modules inlined into the file ----------------------------------------------------------

def helper_sources(helpers: dict[str, type]) -> tuple[dict[str, str], list[str]]:
    """The source of archspec's helper modules that a file needs, with the module-level functions,
    constants and imports they use: (bound name → import statement, definitions in source order)."""
    import ast
    import inspect
    import sys

    imports: dict[str, str] = {}
    code: list[str] = []
    by_module: dict[str, list[str]] = {}
    for name, cls in helpers.items():
        by_module.setdefault(cls.__module__, []).append(name)
    seen: dict[str, str] = {}  # definition → the file it comes from
    for modname, wanted in by_module.items():
        src = inspect.getsource(sys.modules[modname])
        tree = ast.parse(src)
        defs: dict[str, ast.stmt] = {}
        stmts: dict[str, str] = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defs[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        defs[t.id] = node
            elif isinstance(node, ast.Import):
                for a in node.names:
                    bound = a.asname or a.name.split(".")[0]
                    stmts[bound] = f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for a in node.names:
                    stmts[a.asname or a.name] = f"from {node.module} import {a.name}" + (
                        f" as {a.asname}" if a.asname else "")
        need: set[str] = set()
        emitted: list[ast.stmt] = []
        todo = list(wanted)
        while todo:
            name = todo.pop()
            if name in need:
                continue
            need.add(name)
            for sub in ast.walk(defs[name]):
                if isinstance(sub, ast.Name):
                    if sub.id in defs and sub.id not in need:
                        todo.append(sub.id)
                    elif sub.id in stmts:
                        imports[sub.id] = stmts[sub.id]
        for name, node in defs.items():
            if name not in need or node in emitted:
                continue
            if seen.setdefault(name, modname) != modname:
                raise CodegenError(f"helper modules of two files both define `{name}`")
            emitted.append(node)
            segment = ast.get_source_segment(src, node)
            assert segment is not None
            code.append(segment)
    return _merge_imports(imports), code


def _merge_imports(imports: dict[str, str]) -> dict[str, str]:
    """`from torch import nn` + `from torch import Tensor` → one line per module."""
    froms: dict[str, list[str]] = {}
    out: dict[str, str] = {}
    for bound, stmt in imports.items():
        if stmt.startswith("from "):
            mod, _, what = stmt[5:].partition(" import ")
            froms.setdefault(mod, []).append(what)
        else:
            out[bound] = stmt
    for mod, names in froms.items():
        if mod == "torch":
            names = [n for n in names if n not in ("nn", "Tensor")]
            if not names:
                continue
        out["from " + mod] = f"from {mod} import {', '.join(sorted(set(names)))}"
    return out
