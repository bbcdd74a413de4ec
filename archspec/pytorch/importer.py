"""`archspec import`: a PyTorch model (traced with torch.fx) becomes a readable spec.

    text = import_model("mypkg.models:resnet50", input=(3, 224, 224)).text
    text = import_model("net.py:Net", input=(1, 28, 28), to="yaml").text

The model is traced symbolically (`torch.fx`), every node's shape is recorded on a sample input
(`ShapeProp`), and each node is turned into one of archspec's layer kinds (`layers.py`: the PyTorch form
that `archspec/kinds` gives each kind, read backwards). The module hierarchy becomes blocks (`blocks.py`):
one per module class and structure, with the numbers that differ between instances as parameters. What
archspec cannot express is one diagnostic (E801) naming the module path and the operation.
"""

from __future__ import annotations

import ast as pyast
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

from archspec.diagnostics import SpecError
from archspec.ir import Shape
from archspec.pytorch.traced import Traced, import_error

# -- loading ------------------------------------------------------------------------------------------------

def load_model(target: str) -> tuple[nn.Module, str]:
    """`package.module:factory`, `package.module:factory(args)`, `file.py:ClassName` (or `file.py`, whose
    last nn.Module class is taken) → the module (called or instantiated) and its name."""
    where, colon, what = target.partition(":")
    if where.endswith(".py") and not Path(where).is_file() and colon and Path(target.rsplit(":", 1)[0]).is_file():
        where, what = target.rsplit(":", 1)
    call_args: tuple[Any, ...] = ()
    call_kwargs: dict[str, Any] = {}
    if "(" in what and what.endswith(")"):
        what, arg_text = what.split("(", 1)
        call_args, call_kwargs = _literal_call("f(" + arg_text, target)
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise import_error(f"no Python file `{where}`", code="E800")
        name = f"archspec_import_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look the module up
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise import_error(f"running `{where}` failed: {type(e).__name__}: {e}", code="E800") from None
        if not what:
            classes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, nn.Module)
                       and v.__module__ == name]
            if not classes:
                raise import_error(f"`{where}` defines no nn.Module class", code="E800",
                                   hint="name the class or factory: FILE.py:ClassName")
            obj: Any = classes[-1]
            what = obj.__name__
        else:
            obj = getattr(module, what, None)
    else:
        added = os.getcwd() not in sys.path and "" not in sys.path
        if added:  # as `python -m` does: modules in the current folder are importable
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(where)
        except Exception as e:
            raise import_error(f"cannot import `{where}`: {type(e).__name__}: {e}", code="E800",
                               hint="give `package.module:factory` (importable from here) or `file.py:ClassName`") from None
        finally:
            if added:
                sys.path.remove(os.getcwd())
        obj = getattr(module, what, None) if what else None
    if obj is None or not callable(obj):
        raise import_error(f"`{where}` has no class or factory `{what}`", code="E800",
                           hint="`package.module:factory`, `package.module:factory(depth=50)` or `file.py:ClassName`")
    try:
        model = obj(*call_args, **call_kwargs)
    except Exception as e:
        raise import_error(f"calling `{what}` failed: {type(e).__name__}: {e}", code="E800") from None
    if not isinstance(model, nn.Module):
        raise import_error(f"`{what}` gave a {type(model).__name__}, not a torch.nn.Module", code="E800")
    return model, what


def _literal_call(text: str, target: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    try:
        node = pyast.parse(text, mode="eval").body
        assert isinstance(node, pyast.Call)
        return (tuple(pyast.literal_eval(a) for a in node.args),
                {k.arg: pyast.literal_eval(k.value) for k in node.keywords if k.arg})
    except (SyntaxError, ValueError, AssertionError):
        raise import_error(f"the arguments in `{target}` must be Python literals", code="E800",
                           hint="for example `pkg.models:resnet(depth=50, classes=10)`") from None


# -- tracing ------------------------------------------------------------------------------------------------

class _Tracer(fx.Tracer):
    """torch.fx's tracer with archspec's own helper modules kept whole, and the module path on failure."""

    LEAVES = ("TableConv", "Subsample", "RBF", "LocallyConnected", "LayerNorm2d", "StochasticDepth",
              "LSTMLayer", "GRULayer", "RNNLayer", "SelfAttention",
              "ShiftedWindowAttention")

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return type(m).__name__ in self.LEAVES or super().is_leaf_module(m, qualname)


def trace(model: nn.Module, input: Shape) -> Traced:
    from torch.fx.passes.shape_prop import ShapeProp

    from archspec.pytorch.layers import convert

    model = model.eval()
    helpers = []  # archspec's own functions in a compiled spec's file (center_crop, channel_shuffle), kept whole
    for mod in {type(m).__module__ for m in model.modules()}:
        for helper in ("center_crop", "channel_shuffle"):
            fn = getattr(sys.modules.get(mod), helper, None)
            if callable(fn):
                helpers.append(fn)
    tracer = _Tracer(autowrap_functions=tuple(helpers))
    try:
        graph = tracer.trace(model)
    except Exception as e:
        where = ".".join(list(tracer.module_stack)[-1:]) or "the top module"
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        data = "control flow" in msg or "iterate" in msg or "Proxy" in msg or "bool" in msg
        raise import_error(
            f"cannot trace `{type(model).__name__}` in `{where}`: {msg}",
            hint=("its forward depends on the data (an `if` or a loop over a tensor's values): archspec "
                  "describes networks whose structure does not depend on the input" if data else
                  "torch.fx must be able to trace the model symbolically")) from None
    gm = fx.GraphModule(tracer.root, graph)
    vocab = token_vocab(gm)
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(sample(input, vocab))
    except Exception as e:
        raise import_error(f"`{type(model).__name__}` does not run on a 2×{'×'.join(map(str, input))} input: "
                           f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                           hint="give the input shape with --input, channels first without the batch",
                           code="E800") from None
    traced = convert(model, gm, input, vocab)
    return traced


def token_vocab(gm: fx.GraphModule) -> int | None:
    """The vocabulary when the input goes straight into an nn.Embedding (token ids), else None."""
    for n in gm.graph.nodes:
        if n.op == "placeholder":
            for u in n.users:
                m = gm.get_submodule(str(u.target)) if u.op == "call_module" else None
                if isinstance(m, nn.Embedding):
                    return int(m.num_embeddings)
    return None


def sample(input: Shape, vocab: int | None, batch: int = 2) -> torch.Tensor:
    """A random input: values, or token ids below `vocab`."""
    return torch.randint(0, vocab, (batch, *input)) if vocab else torch.randn(batch, *input)


# -- the whole import -----------------------------------------------------------------------------------------

@dataclass
class Imported:
    text: str  # the spec, formatted (.arch or YAML)
    arch: str  # the spec as .arch (what the round trip analyses)
    traced: Traced
    name: str
    error: SpecError | None = None  # with `partial`: the operation the spec stops before


def import_model(target: str | nn.Module, input: Shape, *, to: str = "arch", partial: bool = False,
                 name: str | None = None, blocks: bool = True) -> Imported:
    """Import a PyTorch model (an instance, or `module:factory` / `file.py:Class`) as spec text."""
    if isinstance(target, nn.Module):
        model, what = target, type(target).__name__
    else:
        model, what = load_model(target)
    traced = trace(model, tuple(input))
    return finish(traced, name or what, to=to, partial=partial, blocks=blocks)


def finish(traced: Traced, name: str, *, to: str = "arch", partial: bool = False, blocks: bool = True) -> Imported:
    """The traced layers as formatted spec text."""
    from archspec.pytorch.blocks import spec_text
    from archspec.report.fmt import convert

    if traced.unsupported is not None and not partial:
        raise traced.unsupported
    net = _network_name(name)
    arch = spec_text(traced, net, blocks=blocks and traced.unsupported is None)
    arch = convert(arch, f"{net}.arch", "arch")
    text = arch if to == "arch" else convert(arch, f"{net}.arch", "yaml")
    return Imported(text, arch, traced, net, traced.unsupported)


def import_any(target: str, input: Shape | None, *, to: str = "arch", partial: bool = False,
               name: str | None = None) -> Imported:
    """`import_model` for `module:factory` and `file.py[:Class]`, the ONNX importer for `.onnx` files."""
    if str(target).endswith(".onnx"):
        from archspec.pytorch.onnx_import import read_onnx

        return finish(read_onnx(target, input), name or Path(target).stem, to=to, partial=partial)
    if input is None:
        raise import_error("importing a PyTorch model needs a sample input shape: --input 3x224x224", code="E203",
                           hint="channels first, without the batch")
    return import_model(target, input, to=to, partial=partial, name=name)


def _network_name(name: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in name)
    snake = "".join("_" + c.lower() if c.isupper() and i and not out[i - 1].isupper() else c.lower()
                    for i, c in enumerate(out))
    snake = snake.strip("_") or "imported"
    return snake if snake[0].isalpha() else "n_" + snake


__all__ = ["Imported", "finish", "import_any", "import_model", "load_model", "trace"]
