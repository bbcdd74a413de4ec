"""Every layer argument PyTorch refuses is refused by the analysis (issue 18, item 6; issue 11, item 2).

Two checks, both against PyTorch's own modules, built here by hand from the arguments (not by archspec's
compiler):

- a table of hostile arguments for every kind: the analysis stops with one located diagnostic (E202 for
  an argument's value, E300 for a shape it does not fit) AND PyTorch's module refuses the same layer
  (at construction or at its forward pass); plus the edge cases PyTorch accepts, where the analysis must
  accept them too and give PyTorch's output shape;
- a differential property test: random arguments per kind (zero, negative, too large, mismatched), where
  the analysis must accept exactly what PyTorch accepts, with the same output shape.

A few refusals are deliberately stricter than PyTorch, and listed as such (`STRICTER`): PyTorch accepts
them and computes an empty or meaningless tensor.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
from fuzz_helpers import examples
from hypothesis import given, note
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import archspec

torch = pytest.importorskip("torch")
nn = torch.nn

Factory = Callable[[], Any]


def analyse(shape: str, stmt: str) -> archspec.Analysis:
    return archspec.analyze(f"network t:\n    input {shape}\n    {stmt}\n")


def torch_outcome(factory: Factory, shape: tuple[int, ...]) -> tuple[int, ...] | Exception:
    """PyTorch's output shape (without the batch) for a batch of 2, or the exception it raised. An empty
    output (a size 0 axis, which some modules return in some modes instead of raising) counts as refused."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = factory()
            y = m(torch.randn(2, *shape))
    except (RuntimeError, ValueError, TypeError, ZeroDivisionError, IndexError) as e:
        return e
    if y.numel() == 0:
        return ValueError(f"an empty output {tuple(y.shape)}")
    return tuple(y.shape[1:])


def shape_of(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("x"))


# input, statement, expected code, column of the diagnostic, PyTorch's module for the same layer
C2, C1, C3 = "3x8x8", "3x8", "3x6x6x6"
HOSTILE: list[tuple[str, str, str, int, Factory]] = [
    # transposed convolution (issue 11 item 2: stride 0 was a ZeroDivisionError; issue 18 item 6)
    (C2, "convtranspose 8 2 stride=0", "E202", 5, lambda: nn.ConvTranspose2d(3, 8, 2, stride=0)),
    (C1, "convtranspose 8 2 stride=0", "E202", 5, lambda: nn.ConvTranspose1d(3, 8, 2, stride=0)),
    (C2, "upconv 8 0x0", "E202", 5, lambda: nn.ConvTranspose2d(3, 8, 0)),
    (C2, "upconv 8 2x2 dilation=0", "E202", 5, lambda: nn.ConvTranspose2d(3, 8, 2, dilation=0)),
    (C2, "upconv 8 3 stride=2 output_padding=2", "E202", 5,
     lambda: nn.ConvTranspose2d(3, 8, 3, stride=2, output_padding=2)),
    (C2, "upconv 8 3 output_padding=1", "E202", 5, lambda: nn.ConvTranspose2d(3, 8, 3, output_padding=1)),
    (C2, "upconv 8 3 output_padding=2 dilation=2", "E202", 5,
     lambda: nn.ConvTranspose2d(3, 8, 3, output_padding=2, dilation=2)),
    (C3, "deconv 4 2 stride=(2, 2, 0)", "E202", 5, lambda: nn.ConvTranspose3d(3, 4, 2, stride=(2, 2, 0))),
    (C2, "upconv 8 3 pad=-1", "E202", 5, lambda: nn.ConvTranspose2d(3, 8, 3, padding=-1)),
    (C2, "upconv 8 3 stride=-1", "E202", 5, lambda: nn.ConvTranspose2d(3, 8, 3, stride=-1)),
    (C2, "upconv 8 3 pad=5", "E300", 5, lambda: nn.ConvTranspose2d(3, 8, 3, padding=5)),
    (C2, "upconv 8 3 groups=2", "E300", 5, lambda: nn.ConvTranspose2d(3, 8, 3, groups=2)),
    # convolutions
    (C2, "conv 8 0", "E202", 5, lambda: nn.Conv2d(3, 8, 0)),
    (C2, "conv 8 3 stride=0", "E202", 5, lambda: nn.Conv2d(3, 8, 3, stride=0)),
    (C2, "conv 8 3 dilation=0", "E202", 5, lambda: nn.Conv2d(3, 8, 3, dilation=0)),
    (C2, "conv 8 3 pad=-1", "E202", 5, lambda: nn.Conv2d(3, 8, 3, padding=-1)),
    (C2, "conv 8 (3, -1)", "E202", 5, lambda: nn.Conv2d(3, 8, (3, -1))),
    (C2, "conv 8 3 groups=2", "E300", 5, lambda: nn.Conv2d(3, 8, 3, groups=2)),
    (C2, "conv 8 3 groups=3", "E202", 5, lambda: nn.Conv2d(3, 8, 3, groups=3)),
    (C2, "conv 8 3 groups=0", "E202", 14, lambda: nn.Conv2d(3, 8, 3, groups=0)),
    (C2, "conv 8 9", "E300", 5, lambda: nn.Conv2d(3, 8, 9)),
    (C1, "conv1d 8 3 stride=0", "E202", 5, lambda: nn.Conv1d(3, 8, 3, stride=0)),
    (C3, "conv3d 8 3 dilation=(1, 0, 1)", "E202", 5, lambda: nn.Conv3d(3, 8, 3, dilation=(1, 0, 1))),
    (C2, "dwconv 0", "E202", 5, lambda: nn.Conv2d(3, 3, 0, groups=3)),
    (C2, "dwconv 3 stride=0", "E202", 5, lambda: nn.Conv2d(3, 3, 3, stride=0, groups=3)),
    (C2, "dwconv 3 dilation=-1", "E202", 5, lambda: nn.Conv2d(3, 3, 3, dilation=-1, groups=3)),
    # pooling: kernel and stride at least 1, padding at most half the kernel, on every axis
    (C2, "maxpool 0", "E202", 5, lambda: nn.MaxPool2d(0)),
    (C2, "maxpool 2 stride=0", "E202", 5, lambda: nn.MaxPool2d(2, stride=0)),
    (C2, "maxpool 2 stride=-1", "E202", 5, lambda: nn.MaxPool2d(2, stride=-1)),
    (C2, "maxpool 3 pad=2", "E202", 5, lambda: nn.MaxPool2d(3, padding=2)),
    (C2, "maxpool (3, 1) pad=1", "E202", 5, lambda: nn.MaxPool2d((3, 1), padding=1)),
    (C2, "maxpool 3 pad=-1", "E202", 5, lambda: nn.MaxPool2d(3, padding=-1)),
    (C2, "maxpool 3 pad=full", "E202", 5, lambda: nn.MaxPool2d(3, padding=2)),
    (C2, "maxpool 9", "E300", 5, lambda: nn.MaxPool2d(9)),
    (C1, "maxpool 3 pad=2", "E202", 5, lambda: nn.MaxPool1d(3, padding=2)),
    (C3, "maxpool 3 pad=2", "E202", 5, lambda: nn.MaxPool3d(3, padding=2)),
    (C2, "avgpool 0", "E202", 5, lambda: nn.AvgPool2d(0)),
    (C2, "avgpool 2 stride=0", "E202", 5, lambda: nn.AvgPool2d(2, stride=0)),
    (C2, "avgpool 3 pad=2", "E202", 5, lambda: nn.AvgPool2d(3, padding=2)),
    (C3, "avgpool 3 pad=2", "E202", 5, lambda: nn.AvgPool3d(3, padding=2)),
    (C2, "adaptiveavgpool 0", "E202", 5, lambda: nn.AdaptiveAvgPool2d(0)),  # PyTorch: an empty output
    (C2, "adaptivemaxpool -1", "E202", 5, lambda: nn.AdaptiveMaxPool2d(-1)),
    (C2, "adaptiveavgpool (2, -3)", "E202", 5, lambda: nn.AdaptiveAvgPool2d((2, -3))),
    # upsampling
    (C2, "upsample 0", "E202", 5, lambda: nn.Upsample(scale_factor=0.0)),
    (C2, "upsample -2", "E202", 5, lambda: nn.Upsample(scale_factor=-2.0)),
    (C2, "upsample (2, 0)", "E202", 5, lambda: nn.Upsample(scale_factor=(2.0, 0.0))),
    # normalisation
    (C2, "batchnorm eps=-1", "E202", 15, lambda: nn.BatchNorm2d(3, eps=-1)),
    (C2, "bn eps=-0.001", "E202", 8, lambda: nn.BatchNorm2d(3, eps=-0.001)),
    (C2, "batchnorm eps=0", "E202", 15, lambda: nn.BatchNorm2d(3, eps=0)),  # "positive during training"
    (C2, "lrn 0", "E202", 9, lambda: nn.LocalResponseNorm(0)),
    (C2, "lrn -2", "E202", 9, lambda: nn.LocalResponseNorm(-2)),
    ("8", "lrn 3", "E300", 5, lambda: nn.LocalResponseNorm(3)),
    # dense, activations with arguments
    ("8", "dense 0", "E202", 11, lambda: nn.Linear(8, 0)),  # PyTorch: an empty output
    (C2, "softmax axis=3", "E202", 5, lambda: nn.Softmax(dim=4)),
    # cropping (PyTorch crops with negative padding)
    (C2, "crop size=0", "E202", 5, lambda: nn.ZeroPad2d(-4)),
    (C2, "crop 4", "E300", 5, lambda: nn.ZeroPad2d(-4)),
    (C2, "crop ((0, 9), (0, 0))", "E300", 5, lambda: nn.ZeroPad2d((0, 0, 0, -9))),
    # spatial layers after flatten
    ("8", "conv 2 3", "E300", 5, lambda: nn.Conv2d(8, 2, 3)),
    ("8", "maxpool 2", "E300", 5, lambda: nn.MaxPool2d(2)),
]

# Refused by the analysis although PyTorch accepts them (negative padding that crops, a dropout that
# drops everything, a transposed convolution's dilation of 0, which PyTorch does not check: its backend
# then fails or not by the sizes): archspec's rule is stricter on purpose.
STRICTER: list[tuple[str, str, str, int, Factory]] = [
    (C2, "zeropad -1", "E202", 5, lambda: nn.ZeroPad2d(-1)),
    (C2, "dropout 1", "E202", 13, lambda: nn.Dropout(1.0)),
    (C2, "upconv 8 1 dilation=0", "E202", 5, lambda: nn.ConvTranspose2d(3, 8, 1, dilation=0)),
]

# Accepted by both, with PyTorch's output shape.
ACCEPTED: list[tuple[str, str, Factory]] = [
    (C2, "upconv 8 3 output_padding=1 dilation=2", lambda: nn.ConvTranspose2d(3, 8, 3, output_padding=1, dilation=2)),
    (C2, "upconv 8 3 stride=2 output_padding=1", lambda: nn.ConvTranspose2d(3, 8, 3, stride=2, output_padding=1)),
    (C2, "upconv 8 3 pad=3", lambda: nn.ConvTranspose2d(3, 8, 3, padding=3)),
    (C1, "convtranspose 4 2 stride=3 output_padding=2", lambda: nn.ConvTranspose1d(3, 4, 2, stride=3, output_padding=2)),
    (C2, "conv 8 3 pad=5", lambda: nn.Conv2d(3, 8, 3, padding=5)),
    (C2, "maxpool 2 pad=1", lambda: nn.MaxPool2d(2, padding=1)),
    (C2, "maxpool 9 pad=4", lambda: nn.MaxPool2d(9, padding=4)),
    (C2, "avgpool 2 pad=1", lambda: nn.AvgPool2d(2, padding=1)),
    ("3x1x1", "maxpool 2 ceil", lambda: nn.MaxPool2d(2, ceil_mode=True)),
    (C2, "adaptiveavgpool 20", lambda: nn.AdaptiveAvgPool2d(20)),
    (C2, "lrn 100", lambda: nn.LocalResponseNorm(100)),
    (C2, "leakyrelu -1", lambda: nn.LeakyReLU(-1)),
    (C2, "elu -1", lambda: nn.ELU(-1)),
]


@pytest.mark.parametrize(("shape", "stmt", "code", "col", "factory"), HOSTILE + STRICTER,
                         ids=[f"{c[0]}:{c[1]}" for c in HOSTILE + STRICTER])
def test_refused_with_a_located_diagnostic(shape: str, stmt: str, code: str, col: int, factory: Factory) -> None:
    with pytest.raises(archspec.SpecError) as e:
        analyse(shape, stmt)
    d = e.value.diagnostic
    assert (d.code, d.span.line if d.span else None, d.span.column if d.span else None) == (code, 3, col), d
    theirs = torch_outcome(factory, shape_of(shape))
    if (shape, stmt) in {(s, t) for s, t, *_ in STRICTER}:
        assert not isinstance(theirs, Exception), f"PyTorch refuses {stmt} too: move it to HOSTILE"
    else:
        assert isinstance(theirs, Exception), f"PyTorch accepts {stmt} on {shape}, giving {theirs}"


@pytest.mark.parametrize(("shape", "stmt", "factory"), ACCEPTED, ids=[f"{c[0]}:{c[1]}" for c in ACCEPTED])
def test_accepted_with_pytorchs_shape(shape: str, stmt: str, factory: Factory) -> None:
    theirs = torch_outcome(factory, shape_of(shape))
    assert not isinstance(theirs, Exception), theirs
    assert analyse(shape, stmt).rows[-1].output_shape == theirs


# -- differential: random arguments, the analysis accepts what PyTorch accepts ---------------------------

def _size(v: tuple[int, ...]) -> str:
    """As the language writes a size argument: `3` or `(3, -1)`."""
    if len(set(v)) == 1:
        return str(v[0]) if v[0] >= 0 else f"({v[0]})"  # `conv 2 -1` would be `conv (2 - 1)`
    return "(" + ", ".join(map(str, v)) + ")"


def _torch_size(v: tuple[int, ...]) -> int | tuple[int, ...]:
    return v[0] if len(set(v)) == 1 else v


@st.composite
def layer_cases(draw: st.DrawFn) -> tuple[tuple[int, ...], str, Factory]:
    """A random layer of a kind that PyTorch has a module for, with possibly hostile arguments."""
    nd = draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(1, 7)) for _ in range(nd))
    cin = draw(st.integers(1, 4))
    shape = (cin, *spatial)

    def sizes(lo: int, hi: int) -> tuple[int, ...]:
        same = draw(st.booleans())
        v = draw(st.integers(lo, hi))
        return (v,) * nd if same else tuple(draw(st.integers(lo, hi)) for _ in range(nd))

    kind = draw(st.sampled_from(["conv", "dwconv", "convtranspose", "maxpool", "avgpool", "adaptiveavgpool",
                                 "adaptivemaxpool", "upsample", "batchnorm", "lrn"]))
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[nd]
    if kind in ("conv", "dwconv"):
        k, s, d, p = sizes(-1, 5), sizes(-1, 3), sizes(-1, 3), sizes(-1, 3)
        if kind == "conv":
            filters, groups = draw(st.integers(1, 6)), draw(st.integers(1, 3))
            stmt = f"conv {filters} {_size(k)} stride={_size(s)} pad={_size(p)} dilation={_size(d)} groups={groups}"
        else:
            mult = draw(st.integers(1, 2))
            filters, groups = cin * mult, cin
            stmt = f"dwconv {_size(k)} stride={_size(s)} pad={_size(p)} dilation={_size(d)} multiplier={mult}"
        return shape, stmt, lambda: conv(cin, filters, _torch_size(k), _torch_size(s), _torch_size(p),
                                         _torch_size(d), groups)
    if kind == "convtranspose":
        k, s, d, p, op = sizes(-1, 4), sizes(-1, 3), sizes(-1, 3), sizes(-1, 3), sizes(-1, 3)
        d = tuple(1 if di == 0 else di for di in d)  # PyTorch has no check of its own there: STRICTER
        filters, groups = draw(st.integers(1, 6)), draw(st.integers(1, 3))
        cls = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[nd]
        stmt = (f"convtranspose {filters} {_size(k)} stride={_size(s)} pad={_size(p)} "
                f"output_padding={_size(op)} dilation={_size(d)} groups={groups}")
        return shape, stmt, lambda: cls(cin, filters, _torch_size(k), _torch_size(s), _torch_size(p),
                                        _torch_size(op), groups, True, _torch_size(d))
    if kind in ("maxpool", "avgpool"):
        k, s, p = sizes(-1, 5), sizes(-1, 3), sizes(-1, 3)
        ceil = draw(st.booleans())
        if kind == "avgpool" and nd == 3 and any(n < ki for n, ki in zip(spatial, k)):
            # PyTorch's AvgPool3d alone refuses an input smaller than its window even when padding makes
            # it fit; archspec accepts it and compiles it as explicit padding (tests/pytorch/test_differential.py)
            k = tuple(min(ki, n) for ki, n in zip(k, spatial))
        cls = {("maxpool", 1): nn.MaxPool1d, ("maxpool", 2): nn.MaxPool2d, ("maxpool", 3): nn.MaxPool3d,
               ("avgpool", 1): nn.AvgPool1d, ("avgpool", 2): nn.AvgPool2d, ("avgpool", 3): nn.AvgPool3d}[kind, nd]
        stmt = f"{kind} {_size(k)} stride={_size(s)} pad={_size(p)}" + (" ceil" if ceil else "")
        return shape, stmt, lambda: cls(_torch_size(k), _torch_size(s), _torch_size(p), ceil_mode=ceil)
    if kind in ("adaptiveavgpool", "adaptivemaxpool"):
        size = sizes(-1, 9)
        cls = {("adaptiveavgpool", 1): nn.AdaptiveAvgPool1d, ("adaptiveavgpool", 2): nn.AdaptiveAvgPool2d,
               ("adaptiveavgpool", 3): nn.AdaptiveAvgPool3d, ("adaptivemaxpool", 1): nn.AdaptiveMaxPool1d,
               ("adaptivemaxpool", 2): nn.AdaptiveMaxPool2d, ("adaptivemaxpool", 3): nn.AdaptiveMaxPool3d}[kind, nd]
        return shape, f"{kind} {_size(size)}", lambda: cls(_torch_size(size))
    if kind == "upsample":
        scale = sizes(-1, 3)
        return shape, f"upsample {_size(scale)}", lambda: nn.Upsample(scale_factor=tuple(float(v) for v in scale))
    if kind == "batchnorm":
        eps = draw(st.sampled_from([-1.0, -1e-5, 0.0, 1e-5, 0.1]))
        cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[nd]
        return shape, f"batchnorm eps={eps!r}", lambda: cls(cin, eps=eps)
    size = draw(st.integers(-1, 6))
    return shape, f"lrn {size}", lambda: nn.LocalResponseNorm(size)


def agreement(shape: tuple[int, ...], stmt: str, factory: Factory) -> str | None:
    """None if the analysis and PyTorch agree on `stmt` over `shape`; else what differs."""
    text = "x".join(map(str, shape))
    theirs = torch_outcome(factory, shape)
    try:
        ours: tuple[int, ...] | archspec.SpecError = analyse(text, stmt).rows[-1].output_shape
    except archspec.SpecError as e:
        d = e.diagnostic
        assert d.code in ("E202", "E300") and d.span is not None and d.span.line == 3, d
        ours = e
    if isinstance(ours, archspec.SpecError) != isinstance(theirs, Exception):
        return f"{stmt} on {text}: analysis {ours}, PyTorch {theirs!r}"
    if not isinstance(ours, archspec.SpecError) and ours != theirs:
        return f"{stmt} on {text}: analysis {ours}, PyTorch {theirs}"
    return None


@hsettings(max_examples=examples(10))
@given(layer_cases())
def test_random_arguments_agree_with_pytorch(case: tuple[tuple[int, ...], str, Factory]) -> None:
    note(case[1])
    assert agreement(*case) is None


@pytest.mark.slow
@hsettings(max_examples=examples(50))
@given(layer_cases())
def test_random_arguments_agree_with_pytorch_long(case: tuple[tuple[int, ...], str, Factory]) -> None:
    assert agreement(*case) is None


@pytest.mark.parametrize(("shape", "stmt"), [("3x8x8", "convtranspose 8 2 stride=0"), ("3x8", "convtranspose 8 2 stride=0"),
                                             ("3x8x8", "upconv 8 0x0"), ("3x8x8", "upconv 8 2x2 dilation=0")])
def test_command_line_says_where(tmp_path: Any, capsys: pytest.CaptureFixture[str], shape: str, stmt: str) -> None:
    # issue 11 item 2: `archspec analyze` stopped with an internal error (ZeroDivisionError, exit 70);
    # issue 18 item 6: it accepted the others (exit 0) and the compiled module failed in PyTorch
    from archspec.cli import main

    spec = tmp_path / "t.arch"
    spec.write_text(f"network t:\n    input {shape}\n    {stmt}\n")
    status = main(["analyze", str(spec)])
    out, err = capsys.readouterr()
    assert status == 2
    assert "error[E202]" in out + err and f"{spec}:3:5" in out + err
    assert "internal error" not in out + err
