"""`archspec import model.onnx`: an ONNX graph as a spec (needs the `onnx` package, not onnxruntime).

Shapes come from ONNX's own shape inference; each node maps onto a kind as a traced PyTorch node does
(layers.py), the weights' shapes giving the filters and units. The node names that PyTorch's exporter writes
(`/stage1/basic1/residual/conv1/Conv`) give the module hierarchy back, so blocks are recovered as from a
trace; a file without such names comes back flat. Exporters fold batch norm into the convolution before it
in evaluation mode: the spec then has convolutions with a bias and no batch norm, as the file does.
"""

from __future__ import annotations

import math
from typing import Any

from archspec.ir import Shape
from archspec.pytorch.traced import Layer, Traced, Unsupported, import_error

MERGES = {"Add": "add", "Sum": "add", "Mul": "mul"}
ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish", "Gelu": "gelu"}


class _Meta:
    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape


class Tensor:
    """A tensor of the ONNX graph, standing in for a torch.fx node (hashable, with `meta` and `users`)."""

    def __init__(self, name: str, shape: tuple[int, ...] | None) -> None:
        self.name = name
        self.meta: dict[str, Any] = {"tensor_meta": _Meta(shape)} if shape is not None else {}
        self.users: dict[Any, None] = {}

    def __repr__(self) -> str:
        return f"Tensor({self.name})"


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise import_error("importing an ONNX file needs the `onnx` package: pip install 'archspec[onnx]' "
                           "(or pip install onnx)", code="E209") from None
    return onnx


def read_onnx(path: str, input: Shape | None = None) -> Traced:
    """An ONNX file's nodes as archspec layers (`importer.finish` writes them as a spec)."""
    from pathlib import Path

    onnx = _require_onnx()
    if not Path(path).is_file():
        raise import_error(f"no ONNX file `{path}`", code="E800")
    try:
        model = onnx.load(path)
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as e:
        raise import_error(f"cannot read the ONNX file `{path}`: {type(e).__name__}: {e}", code="E800") from None
    traced = convert(model, input)
    traced.title = Path(path).name
    return traced


def _dims(vi: Any) -> tuple[int, ...] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else 1 for d in t.shape.dim]
    return tuple(int(d) for d in dims)


def convert(model: Any, input: Shape | None) -> Traced:
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    shapes: dict[str, tuple[int, ...] | None] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        shapes[vi.name] = _dims(vi)
    inputs = [i for i in g.input if i.name not in inits]
    if len(inputs) != 1:
        raise import_error(f"the ONNX graph has {len(inputs)} inputs; archspec imports models with one input",
                           code="E801")
    given = shapes[inputs[0].name]
    shape = tuple(input) if input is not None else tuple((given or (1,))[1:])
    if given is not None and input is not None and tuple(given[1:]) != tuple(input):
        raise import_error(f"the ONNX file's input is {'×'.join(map(str, given[1:]))}, not "
                           f"{'×'.join(map(str, input))}", code="E202", hint="leave out --input for an ONNX file")
    tensors: dict[str, Tensor] = {}

    def tensor(name: str) -> Tensor:
        if name not in tensors:
            s = shapes.get(name)
            tensors[name] = Tensor(name, s)
        return tensors[name]

    consts: dict[str, Any] = dict(inits)
    alias: dict[str, str] = {}
    first = tensor(inputs[0].name)
    layers: list[Layer] = [Layer("input", {"shape": shape}, [], first, "", ())]  # type: ignore[arg-type]
    traced = Traced(None, None, shape, layers, [], {})  # type: ignore[arg-type]
    paths = [n.name.strip("/").split("/")[:-1] for n in g.node if n.name.startswith("/")]
    counts: dict[tuple[str, ...], int] = {}
    for p in paths:
        for i in range(1, len(p) + 1):
            counts[tuple(p[:i])] = counts.get(tuple(p[:i]), 0) + 1
    for node in g.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        ins = [alias.get(i, i) for i in node.input]
        try:
            if node.op_type == "Constant":
                value = attrs.get("value")
                consts[node.output[0]] = numpy_helper.to_array(value) if value is not None else None
                continue
            if node.op_type in ("Identity", "Dropout") or (node.op_type in ("Flatten", "Reshape") and
                                                           len(shapes.get(ins[0]) or ()) == 2):
                if ins[0] in consts:
                    consts[node.output[0]] = consts[ins[0]]
                alias[node.output[0]] = ins[0]
                continue
            kind, args, data, weights = _node(node.op_type, attrs, ins, consts, shapes)
        except Unsupported as e:
            traced.unsupported = import_error(f"archspec cannot express `{e.what}`, in ONNX node `{node.name or node.op_type}`",
                                              hint=e.hint or "import with --partial to get the spec up to it")
            traced.outputs[:] = [layers[-1].node]
            return traced
        path = node.name.strip("/").split("/")[:-1] if node.name.startswith("/") else []
        leaf = bool(path) and counts.get(tuple(path), 0) == 1
        scope_parts = path[:-1] if leaf else path
        scope = tuple("/".join(scope_parts[:i]) for i in range(1, len(scope_parts) + 1))
        for k in scope:
            traced.classes[k] = "Sequential"
        local = path[-1].rsplit(".", 1)[-1] if leaf else ""
        out = tensor(node.output[0])
        sources = [tensor(i) for i in data]
        for s in sources:
            s.users[out] = None
        key = None
        if weights:
            key = "/".join(path) or node.name
            traced.weights[key] = [consts[w] for w in weights]
        layers.append(Layer(kind, args, sources, out, local, scope, key))  # type: ignore[arg-type]
    for o in g.output:
        t = tensor(alias.get(o.name, o.name))
        t.users["output"] = None
        traced.outputs.append(t)  # type: ignore[arg-type]
    return traced


def _pads(attrs: dict[str, Any], nd: int) -> Any:
    p = list(attrs.get("pads", [0] * 2 * nd))
    pairs = tuple((int(p[i]), int(p[i + nd])) for i in range(nd))
    if all(b == e for b, e in pairs):
        v = tuple(b for b, _ in pairs)
        return v[0] if len(set(v)) == 1 else v
    return pairs


def _size(v: list[int]) -> Any:
    t = tuple(int(x) for x in v)
    return t[0] if len(set(t)) == 1 else t


def _node(op: str, attrs: dict[str, Any], ins: list[str], consts: dict[str, Any],
          shapes: dict[str, tuple[int, ...] | None]) -> tuple[str, dict[str, Any], list[str], list[str]]:
    """(kind, args, data inputs, weight inputs) of one ONNX node."""
    x = shapes.get(ins[0]) if ins else None
    if op in ("Conv", "ConvTranspose"):
        w = consts.get(ins[1])
        if w is None or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise Unsupported(f"{op} with computed weights or auto_pad")
        nd = w.ndim - 2
        k = tuple(int(v) for v in attrs.get("kernel_shape", w.shape[2:]))
        kernel = k if nd > 1 else k[0]
        stride = _size(attrs.get("strides", [1] * nd))
        dil = _size(attrs.get("dilations", [1] * nd))
        groups = int(attrs.get("group", 1))
        bias = len(ins) > 2 and bool(ins[2])
        weights = [ins[1]] + ([ins[2]] if bias else [])
        pad = _pads(attrs, nd)
        if isinstance(pad, tuple) and pad and isinstance(pad[0], tuple):
            if op == "ConvTranspose":
                raise Unsupported("ConvTranspose with uneven padding")
            pad = "same" if x is not None and _is_same(pad, x[2:], k, stride, dil) else None
            if pad is None:
                raise Unsupported("Conv with uneven padding other than `same`")
        if op == "ConvTranspose":
            return "convtranspose", {"filters": int(w.shape[1]) * groups, "kernel": kernel, "stride": stride, "pad": pad,
                                     "output_padding": _size(attrs.get("output_padding", [0] * nd)), "dilation": dil,
                                     "groups": groups, "bias": bias}, [ins[0]], weights
        cin = x[1] if x else int(w.shape[1]) * groups
        common = {"kernel": kernel, "stride": stride, "pad": pad, "dilation": dil, "bias": bias}
        if groups > 1 and groups == cin and w.shape[0] % cin == 0:
            return "dwconv", {**common, "multiplier": int(w.shape[0]) // cin}, [ins[0]], weights
        return "conv", {"filters": int(w.shape[0]), **common, "groups": groups}, [ins[0]], weights
    if op == "Gemm":
        w = consts.get(ins[1])
        if w is None or float(attrs.get("alpha", 1.0)) != 1.0 or int(attrs.get("transA", 0)):
            raise Unsupported("Gemm other than x · Wᵀ + b")
        if not int(attrs.get("transB", 0)):
            raise Unsupported("Gemm with an untransposed weight")
        bias = len(ins) > 2 and bool(ins[2])
        return "dense", {"units": int(w.shape[0]), "bias": bias}, [ins[0]], [ins[1]] + ([ins[2]] if bias else [])
    if op == "BatchNormalization":
        return "batchnorm", {"eps": float(attrs.get("epsilon", 1e-5)),
                             "momentum": round(1 - float(attrs.get("momentum", 0.9)), 6)}, [ins[0]], list(ins[1:5])
    if op in ACTIVATIONS:
        return ACTIVATIONS[op], {}, [ins[0]], []
    if op == "LeakyRelu":
        return "leakyrelu", {"slope": float(attrs.get("alpha", 0.01))}, [ins[0]], []
    if op == "Elu":
        return "elu", {"alpha": float(attrs.get("alpha", 1.0))}, [ins[0]], []
    if op == "Clip":
        lo = consts.get(ins[1]) if len(ins) > 1 and ins[1] else attrs.get("min")
        hi = consts.get(ins[2]) if len(ins) > 2 and ins[2] else attrs.get("max")
        if lo is not None and hi is not None and float(lo) == 0.0 and float(hi) == 6.0:
            return "relu6", {}, [ins[0]], []
        raise Unsupported("Clip other than to [0, 6]")
    if op == "Softmax":
        axis = int(attrs.get("axis", -1))
        rank = len(x) if x else 2
        axis = axis + rank if axis < 0 else axis
        return "softmax", {"axis": axis - 1}, [ins[0]], []
    if op in ("MaxPool", "AveragePool"):
        k = tuple(int(v) for v in attrs["kernel_shape"])
        nd = len(k)
        s = tuple(int(v) for v in attrs.get("strides", [1] * nd))
        pad = _pads(attrs, nd)
        if isinstance(pad, tuple) and pad and isinstance(pad[0], tuple):
            if x is None or not _is_same(pad, x[2:], k, s, (1,) * nd):
                raise Unsupported(f"{op} with uneven padding other than `same`")
            pad = "same"
        args: dict[str, Any] = {"kernel": k if nd > 1 else k[0], "stride": None if s == k else _size(list(s)),
                                "pad": pad, "ceil": bool(attrs.get("ceil_mode", 0))}
        if op == "MaxPool":
            if any(int(d) != 1 for d in attrs.get("dilations", [1])):
                raise Unsupported("MaxPool with dilation")
            return "maxpool", args, [ins[0]], []
        return "avgpool", {**args, "count_include_pad": bool(attrs.get("count_include_pad", 0))}, [ins[0]], []
    if op in ("GlobalAveragePool", "GlobalMaxPool"):
        return ("globalavgpool" if "Average" in op else "globalmaxpool"), {"keepdims": True}, [ins[0]], []
    if op in ("ReduceMean", "ReduceMax"):
        axes = attrs.get("axes")
        if axes is None and len(ins) > 1:
            axes = consts.get(ins[1])
        rank = len(x) if x else 0
        axes = sorted(int(a) + rank if int(a) < 0 else int(a) for a in (axes if axes is not None else []))
        if rank > 2 and axes == list(range(2, rank)):
            kind = "globalavgpool" if op == "ReduceMean" else "globalmaxpool"
            return kind, {"keepdims": bool(attrs.get("keepdims", 1))}, [ins[0]], []
        raise Unsupported(f"{op} over axes {axes}")
    if op in ("Flatten", "Reshape"):
        out_rank_ok = op == "Flatten" and int(attrs.get("axis", 1)) == 1
        if op == "Reshape":
            target = consts.get(ins[1])
            out_rank_ok = target is not None and len(target) == 2 and int(target[-1]) in (-1, math.prod(x[1:]) if x else -1)
        if out_rank_ok:
            return "flatten", {}, [ins[0]], []
        raise Unsupported(f"{op} other than flattening C×H×W")
    if op in MERGES:
        if any(i in consts for i in ins):
            raise Unsupported(f"{op} with a constant")
        return MERGES[op], {}, list(ins), []
    if op == "Concat":
        axis = int(attrs["axis"])
        rank = len(x) if x else 2
        axis = axis + rank if axis < 0 else axis
        if axis < 1:
            raise Unsupported("Concat along the batch axis")
        return "concat", {"axis": axis - 1}, list(ins), []
    if op == "LRN":
        return "lrn", {"size": int(attrs["size"]), "alpha": float(attrs.get("alpha", 1e-4)),
                       "beta": float(attrs.get("beta", 0.75)), "k": float(attrs.get("bias", 1.0))}, [ins[0]], []
    if op == "Pad":
        pads = consts.get(ins[1]) if len(ins) > 1 else attrs.get("pads")
        mode = attrs.get("mode", b"constant")
        value = consts.get(ins[2]) if len(ins) > 2 and ins[2] else 0.0
        if pads is None or mode not in (b"constant", "constant") or float(value if value is not None else 0.0) != 0.0:
            raise Unsupported("Pad other than with zeros")
        p = [int(v) for v in pads]
        rank = len(p) // 2
        if any(p[:2]) or any(p[rank:rank + 2]):
            raise Unsupported("Pad of the batch or channel axis")
        pairs = tuple((p[i], p[i + rank]) for i in range(2, rank))
        return "zeropad", {"pad": pairs}, [ins[0]], []
    raise Unsupported(op)


def _is_same(pairs: Any, n: tuple[int, ...], k: tuple[int, ...], s: Any, d: Any) -> bool:
    from archspec.kinds.base import norm_size, resolve_pad

    nd = len(n)
    return [tuple(p) for p in resolve_pad("same", n, k, norm_size(s, nd, "stride"), norm_size(d, nd, "dilation"))] == [
        tuple(p) for p in pairs]


def onnx_weights(traced: Traced) -> list[Any]:
    """The file's weights in the order of the spec's layers (for porting into the compiled spec)."""
    out: list[Any] = []
    for layer in traced.layers:
        if layer.weights:
            out += traced.weights[layer.weights]
    return out


__all__ = ["onnx_weights", "read_onnx"]
