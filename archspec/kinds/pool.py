"""Pooling: max and average (overlapping windows, padding, ceil mode), global and adaptive."""

from __future__ import annotations

from fractions import Fraction

from archspec.kinds.base import (
    GLOBAL,
    RF,
    Args,
    Cost,
    LayerKind,
    Padding,
    Receptive,
    Shape,
    ShapeError,
    Size,
    fmt_shape,
    norm_size,
    prod,
    register,
    resolve_pad,
    spatial_rank,
    window_out,
)
from archspec.kinds.torchspec import Expr, Opt, Torch, call, one, pad


class PoolArgs(Args):
    kernel: Size
    stride: Size | None = None  # defaults to the kernel (non-overlapping)
    pad: Padding = 0
    ceil: bool = False
    count_include_pad: bool = True  # average pooling only: padded zeros count in the mean


class _Pool(LayerKind[PoolArgs]):
    Args = PoolArgs
    category = "pool"
    positional = ("kernel",)
    flags = ("ceil",)
    shape_rule = "C × ⌊(n + p − k)/s⌋ + 1 per spatial axis (⌈…⌉ with `ceil`); stride defaults to the kernel"
    params_rule = "0"
    macs_rule = "0 (no weights)"

    def _geo(self, a: PoolArgs, x: Shape) -> tuple[tuple[int, ...], tuple[int, ...], list[tuple[int, int]]]:
        nd = spatial_rank(x, self.name)
        k = norm_size(a.kernel, nd, "kernel")
        s = norm_size(a.stride if a.stride is not None else a.kernel, nd, "stride")
        if min(k) < 1 or min(s) < 1:
            raise ShapeError("pooling kernel and stride must be at least 1", code="E202")
        pads = resolve_pad(a.pad, x[1:], k, s, (1,) * nd)
        for (b, e), ki in zip(pads, k):
            if max(b, e) > ki // 2 and a.pad != "same":
                raise ShapeError(f"pooling padding ({max(b, e)}) must be at most half the kernel ({ki})",
                                 expected=f"pad ≤ {ki // 2}", code="E202")
        return k, s, pads

    def shape(self, a: PoolArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        k, s, pads = self._geo(a, x)
        out = tuple(window_out(n, ki, si, b, e, 1, a.ceil) for n, ki, si, (b, e) in zip(x[1:], k, s, pads))
        if min(out) < 1:
            raise ShapeError(f"`{self.name}` window {fmt_shape(k)} does not fit the {fmt_shape(x[1:])} input",
                             expected=f"an input of at least {fmt_shape(k)}",
                             hint="remove a downsampling layer before it, or use a larger input")
        return (x[0], *out)

    def receptive(self, a: PoolArgs, ins: list[Shape]) -> Receptive:
        k, s, pads = self._geo(a, ins[0])
        return [RF(ki, si, b) for ki, si, (b, _) in zip(k, s, pads)]

    def describe(self, a: PoolArgs) -> str:
        k = a.kernel if isinstance(a.kernel, tuple) else (a.kernel,)
        s = a.stride if a.stride is not None else a.kernel
        s = s if isinstance(s, tuple) else (s,)
        text = "×".join(map(str, k)) if len(k) > 1 else f"{k[0]}"
        if s != k:
            text += "/" + "×".join(map(str, s))
        if a.pad not in (0, "valid"):
            text += f" pad {a.pad}"
        return text + (" ceil" if a.ceil else "")


@register
class MaxPool(_Pool):
    name = "maxpool"
    summary = "Max pooling over windows (overlapping when stride < kernel)."
    flops_rule = "out elements · (∏k − 1) comparisons"

    def cost(self, a: PoolArgs, ins: list[Shape], out: Shape) -> Cost:
        k, _, _ = self._geo(a, ins[0])
        return Cost(flops=prod(out) * (prod(k) - 1))

    def pytorch(self, a: PoolArgs, ins: list[Shape], out: Shape) -> Torch:
        nd = len(ins[0]) - 1
        k, s, pads = self._geo(a, ins[0])
        symmetric = all(b == e for b, e in pads)
        pool = call(f"nn.MaxPool{nd}d", one(k), names=("kernel_size",),
                    stride=Opt(one(s), one(k)), padding=Opt(one(tuple(b for b, _ in pads)) if symmetric else 0, 0), ceil_mode=Opt(a.ceil, False))
        return pool if symmetric else call("nn.Sequential", pad(pads, float("-inf")), pool)


@register
class AvgPool(_Pool):
    name = "avgpool"
    summary = "Average pooling over windows."
    flops_rule = "out elements · ∏k (sums and a division)"

    def cost(self, a: PoolArgs, ins: list[Shape], out: Shape) -> Cost:
        k, _, _ = self._geo(a, ins[0])
        return Cost(flops=prod(out) * prod(k))

    def pytorch(self, a: PoolArgs, ins: list[Shape], out: Shape) -> Torch:
        nd = len(ins[0]) - 1
        k, s, pads = self._geo(a, ins[0])
        symmetric = all(b == e for b, e in pads)
        if nd == 3 and any(n < ki for n, ki in zip(ins[0][1:], k)):
            # AvgPool3d refuses an input smaller than its window, padding or not (AvgPool1d/2d accept it);
            # explicit zero padding is the same computation when the padding counts and no window is partial
            whole = tuple(window_out(n, ki, si, b, e) for n, ki, si, (b, e) in zip(ins[0][1:], k, s, pads))
            if not a.count_include_pad or whole != out[1:]:
                raise NotImplementedError(f"PyTorch's AvgPool3d refuses an input ({fmt_shape(ins[0][1:])}) smaller "
                                          f"than its window ({fmt_shape(k)}) unless the padding counts "
                                          "(`count_include_pad`) and no window is partial (`ceil`)")
            symmetric = False
        elif not symmetric and not a.count_include_pad:
            raise NotImplementedError("average pooling with uneven padding (`pad=same` here) and "
                                      "`count_include_pad=false` has no PyTorch module")
        pool = call(f"nn.AvgPool{nd}d", one(k), names=("kernel_size",),
                    stride=Opt(one(s), one(k)), padding=Opt(one(tuple(b for b, _ in pads)) if symmetric else 0, 0), ceil_mode=Opt(a.ceil, False), count_include_pad=Opt(a.count_include_pad, True))
        return pool if symmetric else call("nn.Sequential", pad(pads), pool)


def _one(t: tuple[int, ...]) -> int | tuple[int, ...]:
    """(3, 3) → 3, as one writes a square window to PyTorch (`MaxPool2d(3, stride=2)`)."""
    return t[0] if len(set(t)) == 1 else t


class GlobalArgs(Args):
    keepdims: bool = False


class _GlobalPool(LayerKind[GlobalArgs]):
    Args = GlobalArgs
    category = "pool"
    flags = ("keepdims",)
    shape_rule = "C (or C×1×1 with `keepdims`)"
    macs_rule = "0 (no weights)"
    flops_rule = "in elements"

    def shape(self, a: GlobalArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        spatial_rank(x, self.name)
        return (x[0], *([1] * (len(x) - 1))) if a.keepdims else (x[0],)

    def cost(self, a: GlobalArgs, ins: list[Shape], out: Shape) -> Cost:
        return Cost(flops=prod(ins[0]))

    def receptive(self, a: GlobalArgs, ins: list[Shape]) -> Receptive:
        return GLOBAL

    def describe(self, a: GlobalArgs) -> str:
        return "keepdims" if a.keepdims else ""

    def pytorch(self, a: GlobalArgs, ins: list[Shape], out: Shape) -> Torch:
        dims = list(range(2, len(ins[0]) + 1))
        keep = ", keepdim=True" if a.keepdims else ""
        if self.name.startswith("globalmax"):
            return Expr(f"torch.amax({{0}}, {dims}{keep})")
        return Expr(f"{{0}}.mean({dims}{keep})")


@register
class GlobalAvgPool(_GlobalPool):
    name = "globalavgpool"
    aliases = ("gap",)
    summary = "Mean over all spatial positions: C×H×W → C."

@register
class GlobalMaxPool(_GlobalPool):
    name = "globalmaxpool"
    summary = "Max over all spatial positions: C×H×W → C."

class AdaptiveArgs(Args):
    size: Size


class _Adaptive(LayerKind[AdaptiveArgs]):
    Args = AdaptiveArgs
    category = "pool"
    positional = ("size",)
    shape_rule = "C × size"
    macs_rule = "0 (no weights)"
    flops_rule = "in elements"

    def shape(self, a: AdaptiveArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        nd = spatial_rank(x, self.name)
        size = norm_size(a.size, nd, "size")
        if min(size) < 1:
            raise ShapeError("adaptive pooling size must be at least 1", code="E202")
        return (x[0], *size)

    def cost(self, a: AdaptiveArgs, ins: list[Shape], out: Shape) -> Cost:
        return Cost(flops=prod(ins[0]))

    def receptive(self, a: AdaptiveArgs, ins: list[Shape]) -> Receptive:
        x = ins[0]
        out = norm_size(a.size, len(x) - 1, "size")
        if all(o == 1 for o in out):  # one output unit per map: global pooling, as `globalavgpool`
            return GLOBAL
        rfs = []
        for n, o in zip(x[1:], out):
            k = -(-n // o) if n % o else n // o
            rfs.append(RF(k + (1 if n % o else 0), Fraction(n, o), 0))
        return rfs

    def describe(self, a: AdaptiveArgs) -> str:
        return "×".join(map(str, a.size)) if isinstance(a.size, tuple) else str(a.size)


@register
class AdaptiveAvgPool(_Adaptive):
    name = "adaptiveavgpool"
    summary = "Average pooling to a fixed output size (PyTorch's AdaptiveAvgPool)."

    def pytorch(self, a: AdaptiveArgs, ins: list[Shape], out: Shape) -> Torch:
        return call(f"nn.AdaptiveAvgPool{len(ins[0]) - 1}d", one(out[1:]), names=("output_size",))


@register
class AdaptiveMaxPool(_Adaptive):
    name = "adaptivemaxpool"
    summary = "Max pooling to a fixed output size (PyTorch's AdaptiveMaxPool)."

    def pytorch(self, a: AdaptiveArgs, ins: list[Shape], out: Shape) -> Torch:
        return call(f"nn.AdaptiveMaxPool{len(ins[0]) - 1}d", one(out[1:]), names=("output_size",))
