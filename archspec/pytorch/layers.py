"""The fx nodes of a traced model as archspec layers: each kind's PyTorch form (`archspec/kinds`), read backwards.

A module is matched by its class to the kind whose `pytorch` rule writes that class (`nn.Conv2d` → `conv`),
and its attributes (the constructor's arguments, which PyTorch keeps) become the kind's arguments. The
result is then checked the other way: the kind's own `pytorch` rule, given the arguments and the traced
shapes, must write the same class with the same arguments (`_verify`), so the two directions cannot drift
apart. Functions (`torch.cat`, `F.relu`, `x + y`, `x.mean([2, 3])`, `torch.flatten`) map by name.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from archspec.diagnostics import SpecError
from archspec.ir import Shape
from archspec.pytorch.traced import Layer, Traced, Unsupported, import_error, shape_of

ALIAS = "alias"  # the node passes its first input through (nn.Identity, `.contiguous()`, x[:, :, None])

def _activations() -> dict[str, str]:
    from archspec.kinds import KINDS
    from archspec.kinds.activation import _Activation

    out = {}
    for kind in KINDS.values():
        if isinstance(kind, _Activation) and hasattr(kind, "torch_name"):
            out[kind.torch_name] = kind.name
    return out


def _one(v: Any) -> Any:
    """(3, 3) → 3 as archspec writes a square size; a 1-tuple → its value; lists → tuples."""
    if isinstance(v, (list, tuple)):
        t = tuple(int(x) if isinstance(x, (int, bool)) else x for x in v)
        return t[0] if len(set(t)) == 1 else t
    return v


def _kernel(v: Any) -> Any:
    """A kernel as archspec writes it: 3x3 (a 1D kernel as a number)."""
    t = tuple(int(x) for x in v) if isinstance(v, (list, tuple)) else (int(v),)
    return t if len(t) > 1 else t[0]


def _stride(s: Any, k: Any) -> Any:
    """A pooling stride: None where it is the kernel (archspec's default)."""
    return None if _one(s) == _one(k) or s is None or s == [] else _one(s)


def _pairs(flat: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """PyTorch's pad order (last axis first, (before, after)) → (before, after) per axis, first axis first."""
    p = [(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]
    return tuple(reversed(p))


def _padspec(pairs: tuple[tuple[int, int], ...]) -> Any:
    if all(b == e for b, e in pairs):
        return _one(tuple(b for b, _ in pairs))
    return pairs


def module_layer(m: nn.Module, ins: list[Shape | None]) -> tuple[str, dict[str, Any]] | str:
    """The kind and arguments of a leaf module, or ALIAS; `Unsupported` when archspec has no such kind."""
    cls = type(m).__name__
    x = ins[0] if ins else None
    acts = _activations()
    if isinstance(m, nn.Identity):
        return ALIAS
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        if m.padding_mode != "zeros":
            raise Unsupported(f"{cls} with padding_mode={m.padding_mode!r}")
        pad = m.padding if isinstance(m.padding, str) else _one(m.padding)
        args: dict[str, Any] = {"kernel": _kernel(m.kernel_size), "stride": _one(m.stride), "pad": pad,
                                "dilation": _one(m.dilation), "bias": m.bias is not None}
        if m.groups > 1 and m.groups == m.in_channels and m.out_channels % m.in_channels == 0:
            return "dwconv", {**args, "multiplier": m.out_channels // m.in_channels}
        return "conv", {"filters": m.out_channels, **args, "groups": m.groups}
    if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        if m.padding_mode != "zeros":
            raise Unsupported(f"{cls} with padding_mode={m.padding_mode!r}")
        return "convtranspose", {"filters": m.out_channels, "kernel": _kernel(m.kernel_size), "stride": _one(m.stride),
                                 "pad": _one(m.padding), "output_padding": _one(m.output_padding),
                                 "dilation": _one(m.dilation), "groups": m.groups, "bias": m.bias is not None}
    if isinstance(m, nn.Linear):
        if x is not None and len(x) != 1:  # on the last axis of any tensor (tokens' features)
            return "dense", {"units": m.out_features, "bias": m.bias is not None, "axis": -1}
        return "dense", {"units": m.out_features, "bias": m.bias is not None}
    if isinstance(m, nn.LayerNorm):
        return "layernorm", {"axes": len(m.normalized_shape), "channels_first": cls == "LayerNorm2d",
                             "eps": float(m.eps), "affine": m.elementwise_affine,
                             "bias": m.bias is not None or not m.elementwise_affine}
    if cls == "StochasticDepth" and hasattr(m, "p"):  # torchvision.ops' (or a compiled spec's own)
        sd: Any = m
        return "stochasticdepth", {"p": float(sd.p), "mode": str(getattr(sd, "mode", "row"))}
    if isinstance(m, nn.Embedding):
        if m.max_norm is not None or m.scale_grad_by_freq or m.sparse:
            raise Unsupported(f"{cls} with max_norm, scale_grad_by_freq or sparse")
        return "embedding", {"vocab": m.num_embeddings, "dim": m.embedding_dim, "padding_idx": m.padding_idx}
    if cls in ("LSTMLayer", "GRULayer", "RNNLayer") and isinstance(getattr(m, "rnn", None), nn.RNNBase):
        r: Any = m.rnn
        if getattr(r, "proj_size", 0) or getattr(r, "nonlinearity", "tanh") != "tanh":
            raise Unsupported(f"{cls} with proj_size or nonlinearity='relu'")
        return cls[:-5].lower(), {"hidden": r.hidden_size, "layers": r.num_layers, "bidirectional": r.bidirectional,
                                  "batch_first": bool(m.batch_first), "bias": r.bias, "dropout": float(r.dropout),
                                  "output": str(m.output)}
    if isinstance(m, nn.MultiheadAttention) or (cls == "SelfAttention" and isinstance(
            getattr(m, "attn", None), nn.MultiheadAttention)):
        a: Any = m if isinstance(m, nn.MultiheadAttention) else m.attn
        if not a.batch_first or not a._qkv_same_embed_dim or a.bias_k is not None or a.add_zero_attn:
            raise Unsupported(f"{cls} other than batch-first self-attention without add_bias_kv or add_zero_attn")
        causal = bool(getattr(m, "causal", False)) if cls == "SelfAttention" else False  # the compiled helper's flag
        return "attention", {"heads": a.num_heads, "dropout": float(a.dropout), "bias": a.in_proj_bias is not None,
                             "causal": causal}
    if cls == "ShiftedWindowAttention" and isinstance(getattr(m, "qkv", None), nn.Linear):
        w: Any = m  # torchvision's (or a compiled spec's own) Swin window attention
        ws = w.window_size if isinstance(w.window_size, int) else _one(tuple(w.window_size))
        shift = w.shift_size if isinstance(w.shift_size, int) else _one(tuple(w.shift_size))
        if not isinstance(ws, int) or not isinstance(shift, int) or float(getattr(w, "dropout", 0.0)):
            raise Unsupported(f"{cls} with non-square windows or dropout after the projection")
        return "window_attention", {"heads": int(w.num_heads), "window": ws, "shift": shift,
                                    "dropout": float(w.attention_dropout), "bias": w.qkv.bias is not None}
    if isinstance(m, nn.GroupNorm):
        return "groupnorm", {"groups": m.num_groups, "eps": float(m.eps), "affine": m.affine}
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        if not m.track_running_stats:
            raise Unsupported(f"{cls} without running statistics (track_running_stats=False)")
        return "batchnorm", {"eps": float(m.eps), "momentum": float(m.momentum if m.momentum is not None else 0.1),
                             "affine": m.affine}
    if isinstance(m, nn.LocalResponseNorm):
        return "lrn", {"size": m.size, "alpha": float(m.alpha), "beta": float(m.beta), "k": float(m.k)}
    if isinstance(m, nn.LeakyReLU):
        return "leakyrelu", {"slope": float(m.negative_slope)}
    if isinstance(m, nn.ELU):
        return "elu", {"alpha": float(m.alpha)}
    if isinstance(m, nn.PReLU):
        return "prelu", {"shared": m.num_parameters == 1}
    if isinstance(m, nn.GELU) and m.approximate != "none":
        raise Unsupported("GELU with approximate='tanh'")
    if isinstance(m, nn.Softmax):
        if m.dim is None or m.dim < 1:
            raise Unsupported(f"Softmax over dim={m.dim} (archspec's softmax is over an axis after the batch)")
        return "softmax", {"axis": m.dim - 1}
    if cls in acts and type(m).__module__.startswith("torch.nn"):
        return acts[cls], {}
    if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        if _one(m.dilation) != 1 or m.return_indices:
            raise Unsupported(f"{cls} with dilation or return_indices")
        return "maxpool", {"kernel": _kernel(m.kernel_size), "stride": _stride(m.stride, m.kernel_size), "pad": _one(m.padding),
                           "ceil": bool(m.ceil_mode)}
    if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        if getattr(m, "divisor_override", None) is not None:
            raise Unsupported(f"{cls} with divisor_override")
        return "avgpool", {"kernel": _kernel(m.kernel_size), "stride": _stride(m.stride, m.kernel_size), "pad": _one(m.padding),
                           "ceil": bool(m.ceil_mode), "count_include_pad": bool(m.count_include_pad)}
    if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                      nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        if isinstance(m, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)) and m.return_indices:
            raise Unsupported(f"{cls} with return_indices")
        size: Any = m.output_size
        if x is not None:  # None in output_size keeps that axis
            t = (size,) * (len(x) - 1) if isinstance(size, int) else tuple(size)
            size = tuple(n if s is None else s for s, n in zip(t, x[1:]))
        kind = "adaptivemaxpool" if "Max" in cls else "adaptiveavgpool"
        return kind, {"size": _one(size)}
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise Unsupported(f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim})")
        return "flatten", {}
    if isinstance(m, nn.Dropout):
        return "dropout", {"p": float(m.p)}
    if isinstance(m, (nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d, nn.ConstantPad2d,
                      nn.ConstantPad3d)):
        if float(getattr(m, "value", 0.0)) == float("-inf"):  # before a max pool (folded into it: `fold`)
            return "_neginfpad", {"pad": _pairs(tuple(m.padding))}
        if float(getattr(m, "value", 0.0)) != 0.0:
            raise Unsupported(f"{cls} with value {m.value} (archspec's zeropad pads with zeros)")
        return "zeropad", {"pad": _padspec(_pairs(tuple(m.padding)))}
    if isinstance(m, nn.Upsample):
        if m.scale_factor is None:
            raise Unsupported("Upsample to a fixed size (archspec's upsample takes a scale)")
        s = m.scale_factor
        scale = _one(tuple(int(v) for v in s)) if isinstance(s, tuple) else int(s)
        mode = "nearest" if m.mode == "nearest" else {"linear": "linear", "bilinear": "bilinear",
                                                       "trilinear": "trilinear"}.get(m.mode)
        if mode is None or (m.mode != "nearest" and m.align_corners):
            raise Unsupported(f"Upsample with mode={m.mode!r}, align_corners={m.align_corners}")
        return "upsample", {"scale": scale, "mode": mode}
    return _helper_layer(m, ins)


_MISSING = object()


def _norm(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        t = tuple(_norm(x) for x in v)
        return t[0] if len(t) and len(set(t)) == 1 and not isinstance(t[0], tuple) else t
    if isinstance(v, float):
        return round(v, 9)
    return v


def _verify(kind: str, args: dict[str, Any], m: nn.Module, ins: list[Shape | None], out: Shape | None) -> None:
    """The other direction: the kind's own PyTorch form (`archspec/kinds`), given the arguments read off the
    module, must be the module's class with the module's constructor arguments."""
    from archspec.kinds import REGISTRY
    from archspec.kinds.torchspec import Module

    k = REGISTRY.get(kind)
    if k is None or any(s is None for s in ins) or out is None:  # `_neginfpad`: folded into a max pool later
        return
    try:
        form = k.pytorch(k.Args(**args), list(ins), out)  # type: ignore[arg-type]
    except Exception:
        return  # a form PyTorch lacks for these shapes: the round trip (`--check`) is the judge
    if isinstance(form, Module) and form.cls == "nn.Sequential":
        form = form.args[-1]  # uneven padding: a pad module, then the layer
    if not isinstance(form, Module):
        return
    cls = type(m).__name__
    if form.cls.removeprefix("nn.") != cls:
        raise Unsupported(f"{cls} (read as `{kind}`, whose PyTorch form is {form.cls})")
    for name, value in [*zip(form.names, form.args), *form.kwargs]:
        have = getattr(m, name, _MISSING)
        if name == "bias" and hasattr(m, "bias"):
            have = getattr(m, "bias", None) is not None
        if have is _MISSING or have is None or isinstance(value, Module) or isinstance(have, (str, torch.Tensor)):
            continue
        if name == "padding" and kind in ("conv", "dwconv", "maxpool", "avgpool") and args.get("pad") == "same":
            continue
        if _norm(have) != _norm(value):
            raise Unsupported(f"{cls} with {name}={have} (archspec's `{kind}` would write {value})")


def _helper_layer(module: nn.Module, ins: list[Shape | None]) -> tuple[str, dict[str, Any]]:
    """archspec's own modules (written into a compiled spec's file), by class name and attributes."""
    m: Any = module
    cls = type(m).__name__
    if cls == "TableConv" and hasattr(m, "table"):
        nd = len(m.kernel)
        pads = _pairs(tuple(m.flat))
        assert nd
        return "conv", {"filters": m.out_channels, "kernel": _kernel(tuple(m.kernel)), "stride": _one(tuple(m.stride)),
                        "pad": _padspec(pads), "dilation": _one(tuple(m.dilation)),
                        "table": tuple(tuple(t) for t in m.table), "bias": m.bias is not None}
    if cls == "LocallyConnected" and hasattr(m, "flat"):
        return "local", {"filters": m.filters, "kernel": _kernel(tuple(m.kernel)), "stride": _one(tuple(m.stride)),
                         "pad": _padspec(_pairs(tuple(m.flat))), "dilation": _one(tuple(m.dilation)),
                         "bias": m.bias is not None}
    if cls == "Subsample" and hasattr(m, "kernel"):
        return "subsample", {"kernel": _kernel(tuple(m.kernel)), "stride": _one(tuple(m.stride)),
                             "bias": m.bias is not None}
    if cls == "RBF" and hasattr(m, "weight"):
        return "rbf", {"units": int(m.weight.shape[0]), "trainable": bool(m.weight.requires_grad)}
    raise Unsupported(f"module {cls}" + ("" if type(m).__module__.startswith("torch.nn") else
                                         f" (from {type(m).__module__})"),
                      hint="archspec maps torch.nn's layers onto its kinds (docs/import.md lists them)")


# -- functions and methods -----------------------------------------------------------------------------------

def _arg(n: fx.Node, i: int, key: str, default: Any = None) -> Any:
    if len(n.args) > i:
        return n.args[i]
    return n.kwargs.get(key, default)


FUNCTION_ACTIVATIONS: dict[Any, str] = {
    F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
    torch.tanh: "tanh", F.tanh: "tanh", F.gelu: "gelu", F.silu: "silu", F.hardswish: "hardswish",
    F.hardsigmoid: "hardsigmoid",
}
METHOD_ACTIVATIONS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "relu_": "relu",
                      "sigmoid_": "sigmoid", "tanh_": "tanh"}
ADD = (operator.add, operator.iadd, torch.add)
MUL = (operator.mul, operator.imul, torch.mul)


def _name(n: fx.Node) -> str:
    t = n.target
    if n.op == "call_method":
        return f"Tensor.{t}"
    mod = getattr(t, "__module__", None) or ""
    qual = getattr(t, "__qualname__", None) or getattr(t, "__name__", None) or str(t)
    if mod in ("_operator", "operator"):
        return f"operator.{qual}"
    if qual.startswith("_VariableFunctionsClass.") or mod == "torch._C._VariableFunctions" or not mod:
        return "torch." + qual.rsplit(".", 1)[-1]
    if mod.startswith("torch.nn.functional"):
        return "F." + qual
    return f"{mod}.{qual}" if mod else str(qual)


def _tensors(args: Any) -> list[fx.Node]:
    out: list[fx.Node] = []
    for a in args if isinstance(args, (list, tuple)) else [args]:
        if isinstance(a, fx.Node):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out += _tensors(a)
    return out


def function_layer(n: fx.Node) -> tuple[str, dict[str, Any], list[fx.Node]] | str | None:
    """(kind, args, tensor inputs), ALIAS, None for a node that is no tensor (x.size(0)); else Unsupported."""
    t = n.target
    out = shape_of(n)
    x = n.args[0] if n.args else None
    xs = shape_of(x)
    if out is None:
        if (n.op == "call_method" and t in ("size", "dim", "chunk", "split")) or t in (
                getattr, operator.getitem, len, torch.chunk, torch.split):
            return None
        raise Unsupported(_name(n))
    if n.op == "call_function" and t in ADD + MUL:
        ins = _tensors(n.args[:2])
        if len(ins) != 2:
            raise Unsupported(f"{_name(n)} with a constant (archspec's add and mul combine tensors)")
        return ("add" if t in ADD else "mul"), {}, ins
    if n.op == "call_method" and t in ("add", "add_", "mul", "mul_", "__add__", "__iadd__", "__mul__"):
        ins = _tensors(n.args[:2])
        if len(ins) != 2:
            raise Unsupported(f"{_name(n)} with a constant")
        return ("add" if "add" in str(t) else "mul"), {}, ins
    if (n.op == "call_function" and t in (torch.matmul, operator.matmul, torch.bmm)) or (
            n.op == "call_method" and t in ("matmul", "bmm", "__matmul__")):
        return _matmul(n)
    if n.op == "call_function" and t is torch.einsum:
        return _einsum(n)
    if n.op == "call_function" and getattr(t, "__name__", "") == "center_crop":
        return ALIAS  # cut to the size of its second input: the concat that reads it crops (crop=center)
    if n.op == "call_function" and t is torch.cat:
        tensors = _tensors(_arg(n, 0, "tensors"))
        if any(getattr(a.target, "__name__", "") == "center_crop" for a in tensors):
            dim = int(_arg(n, 1, "dim", 0))
            if dim != 1:
                raise Unsupported("center_crop then torch.cat off the channel axis")
            return "concat", {"axis": 0, "crop": "center"}, tensors
        dim = int(_arg(n, 1, "dim", 0))
        rank = len(out) + 1
        dim = dim + rank if dim < 0 else dim
        if dim < 1:
            raise Unsupported("torch.cat along the batch axis")
        return "concat", {"axis": dim - 1}, tensors
    if (n.op == "call_function" and t in FUNCTION_ACTIVATIONS) or (n.op == "call_method" and t in METHOD_ACTIVATIONS):
        kind = FUNCTION_ACTIVATIONS[t] if n.op == "call_function" else METHOD_ACTIVATIONS[str(t)]
        if kind == "gelu" and n.kwargs.get("approximate", "none") != "none":
            raise Unsupported("gelu with approximate='tanh'")
        return kind, {}, [x] if isinstance(x, fx.Node) else []
    if n.op == "call_function" and t in (F.leaky_relu,):
        return "leakyrelu", {"slope": float(_arg(n, 1, "negative_slope", 0.01))}, [x]  # type: ignore[list-item]
    if (n.op == "call_function" and t in (F.softmax, torch.softmax)) or (n.op == "call_method" and t == "softmax"):
        dim = int(_arg(n, 1, "dim", -1))
        dim = dim + len(out) + 1 if dim < 0 else dim
        return "softmax", {"axis": dim - 1}, [x]  # type: ignore[list-item]
    if (n.op == "call_function" and t is torch.flatten) or (n.op == "call_method" and t in ("flatten", "view",
                                                                                             "reshape")):
        if xs is None:
            raise Unsupported(f"{_name(n)} of a non-tensor")
        if xs == out:
            return ALIAS
        if len(out) == 1 and out[0] == math.prod(xs):
            return "flatten", {}, [x]  # type: ignore[list-item]
        if t is torch.flatten or t == "flatten":
            rank = len(xs) + 1
            s0, e0 = int(_arg(n, 1, "start_dim", 0)), int(_arg(n, 2, "end_dim", -1))
            s0, e0 = s0 + rank if s0 < 0 else s0, e0 + rank if e0 < 0 else e0
            if s0 < 1:
                raise Unsupported(f"{_name(n)} of the batch axis")
            return "flatten", {"start": s0 - 1, "end": -1 if e0 == rank - 1 else e0 - 1}, [x]  # type: ignore[list-item]
        return "reshape", {"shape": tuple(out)}, [x]  # type: ignore[list-item]
    if (n.op == "call_method" and t in ("transpose", "swapaxes")) or (n.op == "call_function" and t in (
            torch.transpose, torch.swapaxes)):
        rank = len(out) + 1
        i, j = (int(d) + rank if int(d) < 0 else int(d) for d in (_arg(n, 1, "dim0"), _arg(n, 2, "dim1")))
        if min(i, j) < 1:
            raise Unsupported(f"{_name(n)} of the batch axis")
        return "transpose", {"a": min(i, j) - 1, "b": max(i, j) - 1}, [x]  # type: ignore[list-item]
    if (n.op == "call_method" and t == "permute") or (n.op == "call_function" and t is torch.permute):
        dims: Any = n.args[1:] if n.op == "call_method" and len(n.args) > 2 else _arg(n, 1, "dims")
        rank = len(out) + 1
        order = [int(d) + rank if int(d) < 0 else int(d) for d in dims]
        if order[0] != 0:
            raise Unsupported(f"{_name(n)} of the batch axis")
        return "permute", {"order": tuple(d - 1 for d in order[1:])}, [x]  # type: ignore[list-item]
    if n.op == "call_method" and t in ("contiguous", "clone", "detach"):
        return ALIAS
    if n.op == "call_function" and t in (F.dropout, torch.dropout):
        return "dropout", {"p": float(_arg(n, 1, "p", 0.5))}, [x]  # type: ignore[list-item]
    if (n.op == "call_method" and t in ("mean", "amax")) or (n.op == "call_function" and t in (torch.mean,
                                                                                               torch.amax)):
        dims = _arg(n, 1, "dim")
        keep = bool(_arg(n, 2, "keepdim", False))
        rank = len(xs) + 1 if xs is not None else 0
        dims = [dims] if isinstance(dims, int) else list(dims or [])
        if xs is not None and sorted(d + rank if d < 0 else d for d in dims) == list(range(2, rank)) and rank > 2:
            kind = "globalmaxpool" if "amax" in _name(n) else "globalavgpool"
            return kind, {"keepdims": keep}, [x]  # type: ignore[list-item]
        if xs is not None and "mean" in _name(n) and len(dims) == 1 and (dims[0] + rank if dims[0] < 0 else dims[0]) >= 1:
            d = dims[0] + rank if dims[0] < 0 else dims[0]
            return "mean", {"axis": d - 1, "keep": keep}, [x]  # type: ignore[list-item]
        raise Unsupported(f"{_name(n)} over dims {dims}")
    if n.op == "call_function" and t in (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d):
        return "adaptiveavgpool", {"size": _one(out[1:])}, [x]  # type: ignore[list-item]
    if n.op == "call_function" and t in (F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d,
                                         F.avg_pool3d):
        k = _arg(n, 1, "kernel_size")
        s = _arg(n, 2, "stride") or k
        p = _arg(n, 3, "padding", 0)
        is_max = t in (F.max_pool1d, F.max_pool2d, F.max_pool3d)  # (their __name__ is boolean_dispatch's `fn`)
        ceil = bool(_arg(n, 5 if is_max else 4, "ceil_mode", False))
        if is_max:
            if _one(_arg(n, 4, "dilation", 1)) != 1:
                raise Unsupported(f"{_name(n)} with dilation")
            return "maxpool", {"kernel": _kernel(k), "stride": _stride(s, k), "pad": _one(p), "ceil": ceil}, [x]  # type: ignore[list-item]
        if _arg(n, 6, "divisor_override") is not None:
            raise Unsupported(f"{_name(n)} with divisor_override")
        return "avgpool", {"kernel": _kernel(k), "stride": _stride(s, k), "pad": _one(p), "ceil": ceil,
                           "count_include_pad": bool(_arg(n, 5, "count_include_pad", True))}, [x]  # type: ignore[list-item]
    if n.op == "call_function" and t is F.pad:
        if _arg(n, 2, "mode", "constant") != "constant" or float(_arg(n, 3, "value", 0.0) or 0.0) != 0.0:
            raise Unsupported("F.pad other than with zeros")
        flat = tuple(_arg(n, 1, "pad"))
        if xs is not None and len(flat) == 2 * len(xs) and not any(flat[:-2]):  # zero maps: ResNet's option A
            before, after = int(flat[-2]), int(flat[-1])
            side = "after" if before == 0 else "both" if before == (before + after) // 2 else None
            if side is None:
                raise Unsupported("F.pad of the channels unevenly before and after")
            return "padchannels", {"channels": xs[0] + before + after, "stride": 1, "side": side}, [x]  # type: ignore[list-item]
        if xs is None or len(flat) != 2 * (len(xs) - 1):
            raise Unsupported("F.pad of the channel axis")
        return "zeropad", {"pad": _padspec(_pairs(flat))}, [x]  # type: ignore[list-item]
    if n.op == "call_function" and t is F.interpolate:
        return _interpolate(n, xs, out)
    if n.op == "call_function" and getattr(t, "__name__", "") == "channel_shuffle":
        return "channel_shuffle", {"groups": int(_arg(n, 1, "groups"))}, [x]  # type: ignore[list-item]
    if n.op == "call_function" and t is operator.getitem and isinstance(x, fx.Node) and (
            (x.op == "call_method" and x.target in ("chunk", "split"))
            or (x.op == "call_function" and x.target in (torch.chunk, torch.split))):
        return _part(x, int(n.args[1]))  # type: ignore[arg-type]
    if n.op == "call_function" and t is operator.getitem and xs is not None:
        return _getitem(n, xs, out)
    raise Unsupported(_name(n))


def _matmul(n: fx.Node) -> tuple[str, dict[str, Any], list[fx.Node]]:
    """torch.matmul / `a @ b` / bmm of two tensors of one rank (with the batch axis first, it broadcasts as
    archspec's matmul does on one sample's axes)."""
    ins = _tensors(n.args[:2])
    shapes = [shape_of(i) for i in ins]
    if len(ins) != 2 or any(s is None for s in shapes):
        raise Unsupported(f"{_name(n)} with a constant or a parameter (archspec's matmul multiplies two tensors)")
    if len(shapes[0]) != len(shapes[1]) or len(shapes[0]) < 2:  # type: ignore[arg-type]
        raise Unsupported(f"{_name(n)} of tensors of different ranks (the batch axis would broadcast against another)")
    return "matmul", {}, ins


def _einsum(n: fx.Node) -> tuple[str, dict[str, Any], list[fx.Node]]:
    """torch.einsum("bij,bjk->bik", a, b): archspec's einsum "ij,jk->ik" (its equation leaves out the batch
    axis, which must be the first letter of every term)."""
    eq = n.args[0] if n.args else n.kwargs.get("equation")
    rest = list(n.args[1:])
    operands = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
    ins = _tensors(operands)
    if not isinstance(eq, str) or len(ins) != 2 or len(operands) != 2:
        raise Unsupported("torch.einsum of other than two tensors")
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if "." in eq or not arrow or not all(terms) or not rhs:
        raise Unsupported(f"torch.einsum({eq!r}): write the output letters, without `...`")
    batch = terms[0][0]
    if any(t[0] != batch or batch in t[1:] for t in [*terms, rhs]):
        raise Unsupported(f"torch.einsum({eq!r}): the batch axis must be the first letter of every term")
    return "einsum", {"equation": ",".join(t[1:] for t in terms) + "->" + rhs[1:]}, ins


def _interpolate(n: fx.Node, xs: Shape | None, out: Shape) -> tuple[str, dict[str, Any], list[fx.Node]]:
    """F.interpolate to a fixed size → `resize`; to `y.shape[2:]` (or `y.size()[2:]`) → `resize_like _ y`."""
    x: Any = n.args[0]
    mode = str(_arg(n, 3, "mode", "nearest"))
    if mode not in ("nearest", "linear", "bilinear", "trilinear") or xs is None:
        raise Unsupported(f"F.interpolate with mode={mode!r}")
    if _arg(n, 5, "recompute_scale_factor") or _arg(n, 6, "antialias"):
        raise Unsupported("F.interpolate with recompute_scale_factor or antialias")
    args: dict[str, Any] = {"mode": "nearest" if mode == "nearest" else "bilinear"}
    if mode != "nearest":
        args["align_corners"] = bool(_arg(n, 4, "align_corners", False))
    size = _arg(n, 1, "size")
    if isinstance(size, fx.Node):
        src: Any = size
        if src.op == "call_function" and src.target is operator.getitem and src.args[1] == slice(2, None):
            src = src.args[0]
            if (src.op == "call_function" and src.target is getattr and src.args[1] == "shape") or (
                    src.op == "call_method" and src.target == "size" and len(src.args) == 1):
                like = src.args[0]
                if shape_of(like) is not None and shape_of(like)[1:] == out[1:]:  # type: ignore[index]
                    return "resize_like", args, [x, like]
        raise Unsupported("F.interpolate to a size computed other than from another tensor's `shape[2:]`")
    if _arg(n, 2, "scale_factor") is not None:
        raise Unsupported("F.interpolate by a scale factor (archspec resizes to a size)")
    return "resize", {"size": _one(tuple(out[1:])), **args}, [x]


def _part(n: fx.Node, part: int) -> tuple[str, dict[str, Any], list[fx.Node]]:
    """x.chunk(2, dim=1)[1] → `chunk 2 1`; x.split(sizes, dim)[i] → `split sizes i` (a part along an axis)."""
    src: Any = n.args[0]
    xs = shape_of(src)
    if xs is None:
        raise Unsupported(f"{_name(n)} of a non-tensor")
    dim = int(_arg(n, 2, "dim", 0))
    dim = dim + len(xs) + 1 if dim < 0 else dim
    if dim < 1:
        raise Unsupported(f"{_name(n)} along the batch axis")
    axis = dim - 1
    size = xs[axis]
    how = _arg(n, 1, "chunks" if "chunk" in _name(n) else "split_size_or_sections")
    if how is None:
        how = _arg(n, 1, "split_size")
    if "chunk" in _name(n):
        chunks = int(how)
        if size % chunks:
            raise Unsupported(f"{_name(n)} into unequal parts")
        return "chunk", {"chunks": chunks, "part": part, "axis": axis}, [src]
    if isinstance(how, int):
        sizes = tuple([how] * (size // how) + ([size % how] if size % how else []))
    else:
        sizes = tuple(int(v) for v in how)
    return "split", {"sizes": sizes, "part": part, "axis": axis}, [src]


def _getitem(n: fx.Node, xs: Shape, out: Shape) -> tuple[str, dict[str, Any], list[fx.Node]] | str:
    """x[:, :, None, None] (a broadcast, which archspec does by itself) or x[:, :, a:b, c:d] (a crop)."""
    raw: Any = n.args[1]
    idx: tuple[Any, ...] = raw if isinstance(raw, tuple) else (raw,)
    if all(i is None or i == slice(None) for i in idx) and math.prod(out) == math.prod(xs):
        return ALIAS
    if idx and isinstance(idx[-1], int) and idx[0] == slice(None) and all(i == slice(None) for i in idx[1:-1]) \
            and len(idx) >= 2:
        return "select", {"index": int(idx[-1]), "axis": len(idx) - 2}, [n.args[0]]  # type: ignore[list-item]
    if len(idx) >= 2 and idx[0] == slice(None) and idx[1] == slice(None) and all(
            isinstance(i, slice) and i.step in (None, 1) for i in idx[2:]) and len(out) == len(xs):
        crops = []
        for size, i in zip(xs[1:], list(idx[2:]) + [slice(None)] * (len(xs) - len(idx) + 1)):
            start = i.start or 0
            stop = size if i.stop is None else (i.stop if i.stop >= 0 else size + i.stop)
            crops.append((start, size - stop))
        return "crop", {"crop": _padspec(tuple(crops))}, [n.args[0]]  # type: ignore[list-item]
    if len(idx) >= 3 and idx[0] == slice(None) and idx[1] == slice(None) and all(
            isinstance(i, slice) and i.start is None and i.stop is None for i in idx[2:]):
        steps = [i.step or 1 for i in idx[2:]] + [1] * (len(xs) + 1 - len(idx))
        return "_strided", {"stride": _one(tuple(steps))}, [n.args[0]]  # type: ignore[list-item]
    raise Unsupported(f"indexing {idx}")


# -- the whole graph -----------------------------------------------------------------------------------------

def _shared(layer: Layer, m: nn.Module, calls: dict[str, Layer], owners: dict[int, tuple[str, Layer]]) -> None:
    """A module called again is `reuse` of its first call; a Linear whose weight is an earlier module's
    weight (GPT-2's output projection and token embedding) is `tie=`. Both within one module's forward:
    the spec names layers per block."""
    path = str(layer.node.target)
    first = calls.get(path) if layer.weights else None
    if first is not None:
        # the same module path; a block called again is the same modules under `enc@1` (torch.fx's key for
        # the second call): blocks.py writes it `reuse enc`, or refuses it
        if [k.split("@")[0] for k in first.scope] != [k.split("@")[0] for k in layer.scope]:
            raise Unsupported(f"{path} called from another module than the one that first calls it",
                              hint="a module used again is written `reuse NAME` where both calls are in one forward")
        layer.reuses = first.node
        return
    calls[path] = layer
    for name, p in m.named_parameters(recurse=True):
        owner = owners.get(id(p))
        if owner is None:
            continue
        if name != "weight" or owner[0] != "weight" or not isinstance(m, nn.Linear):
            raise Unsupported(f"the parameter {path}.{name} shared with {owner[1].weights}.{owner[0]}",
                              hint="archspec ties a Linear's weight to another layer's weight (`tie=`)")
        if owner[1].scope != layer.scope:
            raise Unsupported(f"{path}.weight tied to {owner[1].weights}.weight in another module",
                              hint="`tie=NAME` names a layer of the same block")
        layer.tie = owner[1].node
    for name, p in m.named_parameters(recurse=True):
        owners.setdefault(id(p), (name, layer))


def convert(model: nn.Module, gm: fx.GraphModule, input: Shape, vocab: int | None = None) -> Traced:
    layers: list[Layer] = []
    alias: dict[fx.Node, fx.Node] = {}
    classes: dict[str, str] = {}
    outputs: list[fx.Node] = []
    traced = Traced(model, gm, input, layers, outputs, classes)
    traced.vocab = vocab
    pending: dict[fx.Node, Layer] = {}  # nn.MultiheadAttention calls, until their output is taken
    made: set[fx.Node] = set()  # parameters read directly, written as `param` layers
    calls: dict[str, Layer] = {}  # module path → its first call's layer (a module called again: `reuse`)
    owners: dict[int, tuple[str, Layer]] = {}  # a parameter's id → (its name, the layer of the module holding it)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise import_error(f"`{type(model).__name__}.forward` takes {len(placeholders)} inputs; "
                           "archspec imports models with one input", code="E801")
    for n in gm.graph.nodes:
        stack = dict(n.meta.get("nn_module_stack", {}))
        keys = list(stack)
        for k, (_, cls) in stack.items():
            classes[k] = cls.__name__ if isinstance(cls, type) else str(cls).rsplit(".", 1)[-1]
        try:
            if n.op == "placeholder":
                layers.append(Layer("input", {"shape": input, **({"vocab": vocab} if vocab else {})}, [], n, "", ()))
            elif n.op == "output":
                outputs += [alias.get(o, o) for o in _tensors(n.args[0])]
            elif n.op == "get_attr":
                continue  # a module's own parameter: read by the layer that uses it (`_own`)
            elif n.op == "call_module" and isinstance(gm.get_submodule(str(n.target)), nn.MultiheadAttention):
                m = gm.get_submodule(str(n.target))
                ins = [alias.get(a, a) for a in _tensors(n.args)]
                if len(set(ins)) != 1 or any(n.kwargs.get(k) is not None for k in ("key_padding_mask", "attn_mask")) \
                        or len(ins) != 3 or n.kwargs.get("is_causal"):
                    raise Unsupported("nn.MultiheadAttention other than self-attention (the same query, key and "
                                      "value) without masks")
                r0 = module_layer(m, [shape_of(ins[0])])
                assert not isinstance(r0, str)
                # its result is a tuple: the layer is its first element (`attn(x, x, x)[0]`)
                pending[n] = Layer(r0[0], r0[1], ins[:1], n, str(n.target).rsplit(".", 1)[-1], tuple(keys[:-1]),
                                   str(n.target))
            elif n.op == "call_function" and n.target is operator.getitem and n.args[0] in pending:
                if n.args[1] == 0:
                    layer = pending[n.args[0]]
                    layer.node, layer.within = n, (layer.node,)
                    layers.append(layer)
                elif n.users:
                    raise Unsupported("the attention weights of nn.MultiheadAttention")
            elif n.op == "call_module":
                m = gm.get_submodule(str(n.target))
                ins = [alias.get(a, a) for a in _tensors(n.args)]
                r = module_layer(m, [shape_of(a) for a in ins])
                if isinstance(r, str):
                    alias[n] = ins[0]
                    continue
                kind, args = r
                _verify(kind, args, m, [shape_of(a) for a in ins], shape_of(n))
                local = str(n.target).rsplit(".", 1)[-1]
                weights = str(n.target) if any(True for _ in m.parameters()) or any(True for _ in m.buffers()) else None
                layer = Layer(kind, args, ins, n, local, tuple(keys[:-1]), weights)
                _shared(layer, m, calls, owners)
                layers.append(layer)
            else:
                r2 = _own(n, gm) or function_layer(n)
                if r2 is None:
                    continue
                if isinstance(r2, str):
                    first: Any = n.args[0]
                    alias[n] = alias.get(first, first)
                    continue
                kind, args, ins = r2
                if kind in ("add", "concat"):  # a parameter added (a position embedding) or concatenated
                    for a in ins:
                        if a.op == "get_attr" and a not in made:
                            other = next(b for b in ins if b.op != "get_attr")
                            layers.append(_param_layer(a, gm, [alias.get(other, other)], tuple(keys)))
                            made.add(a)
                attrs = [a for a in ins if a.op == "get_attr" and a not in made]
                if attrs and kind not in OWN:
                    raise Unsupported(f"a parameter or buffer read directly (`{attrs[0].target}`)")
                owned = str(attrs[0].target) if attrs else None
                ins = [a for a in ins if a.op != "get_attr" or a in made]
                layers.append(Layer(kind, args, [alias.get(a, a) for a in ins], n,
                                    owned.rsplit(".", 1)[-1] if owned else "", tuple(keys), owned))
        except Unsupported as e:
            where = _where(n, keys) or f"{type(model).__name__}.forward"
            err = import_error(f"archspec cannot express `{e.what}`, in `{where}`", hint=e.hint or
                               "write that part as a spec by hand, or import with --partial to get the "
                               "spec up to it")
            traced.unsupported = err
            if layers:
                outputs[:] = [layers[-1].node]
            return traced
        except SpecError:
            raise
    if not outputs:
        raise import_error(f"`{type(model).__name__}` returns no tensor", code="E801")
    try:
        fold(layers)
    except Unsupported as e:
        raise import_error(f"archspec cannot express `{e.what}`", hint=e.hint) from None
    return traced


OWN = ("layerscale", "param")  # kinds whose weights are their block's own nn.Parameter


def _param_args(p: torch.Tensor, shape: Shape) -> dict[str, Any]:
    if tuple(p.shape) != (1, *shape):
        raise Unsupported(f"a parameter of shape {tuple(p.shape)} (archspec's `param` is 1×its shape, "
                          "repeated along the batch)")
    init = "zeros" if not bool(p.detach().any()) else "ones" if bool((p.detach() == 1).all()) else "normal"
    return {"shape": _one(tuple(shape)) if len(shape) == 1 else tuple(shape), "init": init}


def _param_layer(a: fx.Node, gm: fx.GraphModule, ins: list[fx.Node], keys: tuple[str, ...]) -> Layer:
    """A parameter read directly (`x + self.pos_embedding`) as a `param` layer, the current tensor its batch."""
    try:
        p = gm.get_parameter(str(a.target))
    except AttributeError:
        raise Unsupported(f"a buffer read directly (`{a.target}`)") from None
    target = str(a.target)
    return Layer("param", _param_args(p, tuple(p.shape[1:])), ins, a, target.rsplit(".", 1)[-1], keys, target)


def _batch_source(v: Any) -> fx.Node | None:
    """The tensor whose batch size an `expand` reads (`x.shape[0]`, `x.size(0)`)."""
    for a in _tensors(v if isinstance(v, (list, tuple)) else [v]):
        if a.op == "call_function" and a.target is operator.getitem:
            a = a.args[0]  # type: ignore[assignment]
        if (a.op == "call_function" and a.target is getattr) or (a.op == "call_method" and a.target == "size"):
            src = a.args[0]
            if isinstance(src, fx.Node) and shape_of(src) is not None:
                return src
    return None


def _own(n: fx.Node, gm: fx.GraphModule) -> tuple[str, dict[str, Any], list[fx.Node]] | None:
    """A module's own parameter times the current tensor (ConvNeXt's layer scale) → `layerscale`;
    repeated along the batch (`self.cls.expand(x.shape[0], -1, -1)`, ViT's class token) → `param`."""
    if n.op == "call_method" and n.target == "expand" and isinstance(n.args[0], fx.Node) and \
            n.args[0].op == "get_attr":
        out = shape_of(n)
        src = _batch_source(list(n.args[1:]))
        if out is None or src is None:
            raise Unsupported("Tensor.expand of a parameter other than along the batch")
        p = gm.get_parameter(str(n.args[0].target))
        return "param", _param_args(p, out), [n.args[0], src]
    if not (n.op == "call_function" and n.target in MUL) and not (n.op == "call_method" and n.target in (
            "mul", "__mul__")):
        return None
    ins = _tensors(n.args[:2])
    attrs = [a for a in ins if a.op == "get_attr"]
    rest = [a for a in ins if a.op != "get_attr"]
    if len(ins) != 2 or len(attrs) != 1:
        return None
    x = shape_of(rest[0])
    try:
        p = gm.get_parameter(str(attrs[0].target))
    except AttributeError:
        raise Unsupported(f"a buffer read directly (`{attrs[0].target}`)") from None
    if x is None:
        return None
    shape = tuple(p.shape)
    while len(shape) > len(x) and shape[0] == 1:
        shape = shape[1:]
    rank = len(x)
    for ax in range(rank):
        if shape == (x[ax],) + (1,) * (rank - ax - 1):
            values = p.detach().flatten()
            init = float(values[0]) if bool((values == values[0]).all()) else 1e-6
            return "layerscale", {"init": init, "axis": ax if ax == 0 else ax - rank}, ins
    raise Unsupported(f"a parameter of shape {tuple(p.shape)} times a {'×'.join(map(str, x))} tensor")


def fold(layers: list[Layer]) -> None:
    """Padding written as its own module, folded into the layer after it: zero padding before a convolution
    or an average pool that is `same` padding, -inf padding before a max pool (`pad=same`), a strided slice
    before zero channel maps (`padchannels C stride=2`)."""
    from archspec.kinds.base import norm_size, resolve_pad

    users: dict[fx.Node, list[Layer]] = {}
    for layer in layers:
        for a in layer.inputs:
            users.setdefault(a, []).append(layer)
    drop: set[int] = set()
    for i, layer in enumerate(layers):
        if layer.kind not in ("zeropad", "_neginfpad", "_strided"):
            continue
        after = users.get(layer.node, [])
        nxt = after[0] if len(after) == 1 and len(layer.node.users) == 1 else None
        x = shape_of(layer.inputs[0])
        if nxt is not None and layer.kind == "_strided" and nxt.kind == "padchannels":
            nxt.args["stride"] = layer.args["stride"]
        elif nxt is not None and x is not None and layer.kind in ("zeropad", "_neginfpad") and (
                nxt.kind in (("maxpool",) if layer.kind == "_neginfpad" else ("conv", "dwconv", "avgpool"))
                and nxt.args.get("pad") == 0):
            nd = len(x) - 1
            pairs = layer.args["pad"] if layer.kind == "_neginfpad" else _as_pairs(layer.args["pad"], nd)
            k = norm_size(nxt.args["kernel"], nd, "kernel")
            s = norm_size(nxt.args.get("stride") or nxt.args["kernel"], nd, "stride")
            d = norm_size(nxt.args.get("dilation", 1), nd, "dilation")
            if [tuple(p) for p in resolve_pad("same", x[1:], k, s, d)] != [tuple(p) for p in pairs]:
                if layer.kind == "_neginfpad":
                    raise Unsupported(f"padding {pairs} with -inf before a max pool (other than `same`)")
                continue
            nxt.args["pad"] = "same"
        elif layer.kind == "zeropad":
            continue
        else:
            raise Unsupported({"_neginfpad": "ConstantPad with -inf", "_strided": "a strided slice"}[layer.kind])
        nxt.inputs = [layer.inputs[0] if a is layer.node else a for a in nxt.inputs]
        drop.add(i)
    layers[:] = [ly for i, ly in enumerate(layers) if i not in drop]


def _as_pairs(pad: Any, nd: int) -> list[tuple[int, int]]:
    if isinstance(pad, int):
        return [(pad, pad)] * nd
    if all(isinstance(p, int) for p in pad):
        return [(p, p) for p in pad]
    return [tuple(p) for p in pad]


def _where(n: fx.Node, keys: list[str]) -> str:
    path = str(n.target) if n.op == "call_module" else (keys[-1].split("@")[0] if keys else "")
    return path


__all__ = ["ALIAS", "convert", "function_layer", "module_layer"]
