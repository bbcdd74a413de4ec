"""One row per layer kind: what the analysis says of a layer against what PyTorch says of the same layer.

For every kind in the registry (a test below fails when a kind has no row), one small network: the
analysis's output shape, parameters (trainable and not) and floating-point buffers are compared with a
PyTorch module built here by hand from the layer's arguments (not by archspec's compiler); the MACs are
hand-computed literals, and where PyTorch's FlopCounterMode counts the operation (convolutions and matrix
products) its count halved must give the same figure. Last, the compiled layer, with the hand-built
module's weights ported by position, must give PyTorch's outputs.

The formulas behind the literals are the ones in docs/layers.md and ../shared/ACCEPTANCE.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import archspec
from archspec.kinds import REGISTRY

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional


class Fn(nn.Module):
    """A parameter-free layer written as a function of its inputs."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: Any) -> Any:
        return self.fn(*xs)


class Local2d(nn.Module):
    """A locally connected layer (Keras's LocallyConnected2D): unshared filters and biases per position."""

    def __init__(self, c_in: int, filters: int, k: int, out_hw: tuple[int, int]) -> None:
        super().__init__()
        self.k, self.out_hw = k, out_hw
        positions = out_hw[0] * out_hw[1]
        self.weight = nn.Parameter(torch.randn(positions, filters, c_in * k * k))
        self.bias = nn.Parameter(torch.randn(filters, *out_hw))

    def forward(self, x: Any) -> Any:
        cols = F.unfold(x, self.k)  # N × (C·k·k) × P
        y = torch.einsum("ncp,pfc->nfp", cols, self.weight)
        return y.reshape(x.shape[0], -1, *self.out_hw) + self.bias


class Subsample(nn.Module):
    """LeNet-5's trainable subsampling: each window's sum × a coefficient + a bias, per map."""

    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.weight = nn.Parameter(torch.randn(c))
        self.bias = nn.Parameter(torch.randn(c))

    def forward(self, x: Any) -> Any:
        s = F.avg_pool2d(x, self.k) * (self.k * self.k)
        return s * self.weight[:, None, None] + self.bias[:, None, None]


class RBF(nn.Module):
    """LeNet-5's Euclidean RBF outputs: y_i = Σ_j (x_j − w_ij)², fixed weights."""

    def __init__(self, n_in: int, units: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(units, n_in), requires_grad=False)

    def forward(self, x: Any) -> Any:
        return ((x[:, None, :] - self.weight) ** 2).sum(-1)


@dataclass(frozen=True)
class Case:
    kind: str  # the registry's name of the kind this row covers
    inputs: tuple[tuple[int, ...], ...]
    stmt: str
    module: Callable[[], Any]
    macs: int  # hand-computed
    counted: bool = False  # FlopCounterMode counts this operation: its FLOPs / 2 must equal `macs`


def conv(*a: Any, **k: Any) -> Callable[[], Any]:
    return lambda: nn.Conv2d(*a, **k)


CASES = [
    # convolution: out elements · ∏k · C_in/groups
    Case("conv", ((3, 8, 8),), "conv 4 3", conv(3, 4, 3), 4 * 6 * 6 * 9 * 3, True),
    Case("conv1d", ((3, 16),), "conv1d 5 3 stride=2 pad=1", lambda: nn.Conv1d(3, 5, 3, 2, 1), 5 * 8 * 3 * 3, True),
    Case("conv2d", ((3, 8, 8),), "conv2d 6 3 groups=3 pad=1 bias=false",
         conv(3, 6, 3, padding=1, groups=3, bias=False), 6 * 8 * 8 * 9 * 1, True),
    Case("conv3d", ((2, 4, 6, 6),), "conv3d 4 3", lambda: nn.Conv3d(2, 4, 3), 4 * 2 * 4 * 4 * 27 * 2, True),
    Case("dwconv", ((4, 8, 8),), "dwconv 3 stride=2 pad=1 multiplier=2",
         conv(4, 8, 3, stride=2, padding=1, groups=4), 8 * 4 * 4 * 9, True),
    # transposed: in elements · C_out/groups · ∏k
    Case("convtranspose", ((3, 5, 5),), "convtranspose 4 2 stride=2",
         lambda: nn.ConvTranspose2d(3, 4, 2, stride=2), 3 * 5 * 5 * 4 * 4, True),
    # locally connected: P · F · C_in · ∏k, P = 4×4 positions
    Case("local", ((2, 6, 6),), "local 4 3", lambda: Local2d(2, 4, 3, (4, 4)), 16 * 4 * 2 * 9, True),
    Case("dense", ((20,),), "dense 10", lambda: nn.Linear(20, 10), 20 * 10, True),
    Case("rbf", ((20,),), "rbf 10", lambda: RBF(20, 10), 20 * 10),
    Case("flatten", ((3, 4, 4),), "flatten", lambda: nn.Flatten(), 0),
    Case("identity", ((3, 4, 4),), "identity", lambda: nn.Identity(), 0),
    Case("dropout", ((3, 4, 4),), "dropout 0.5", lambda: nn.Dropout(0.5), 0),
    Case("zeropad", ((3, 4, 4),), "zeropad ((0, 1), (2, 0))", lambda: nn.ZeroPad2d((2, 0, 0, 1)), 0),
    Case("crop", ((3, 6, 6),), "crop ((0, 1), (2, 2))", lambda: Fn(lambda x: x[:, :, 0:5, 2:4]), 0),
    Case("padchannels", ((4, 6, 6),), "padchannels 8 stride=2",
         lambda: Fn(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 0, 4))), 0),
    Case("upsample", ((3, 4, 4),), "upsample 2", lambda: nn.Upsample(scale_factor=2), 0),
    Case("concat", ((4, 6, 6), (2, 6, 6)), "concat x0 x1", lambda: Fn(lambda a, b: torch.cat([a, b], 1)), 0),
    Case("add", ((4, 6, 6), (4, 6, 6)), "add x0 x1", lambda: Fn(torch.add), 0),
    Case("mul", ((4, 6, 6), (4,)), "mul x0 x1", lambda: Fn(lambda a, b: a * b[:, :, None, None]), 0),
    Case("batchnorm", ((4, 6, 6),), "batchnorm", lambda: nn.BatchNorm2d(4), 0),
    Case("lrn", ((8, 6, 6),), "lrn 5", lambda: nn.LocalResponseNorm(5), 0),
    Case("maxpool", ((3, 8, 8),), "maxpool 3 stride=2 pad=1 ceil", lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), 0),
    Case("avgpool", ((3, 8, 8),), "avgpool 3 stride=2 pad=1", lambda: nn.AvgPool2d(3, 2, 1), 0),
    Case("globalavgpool", ((3, 5, 5),), "globalavgpool", lambda: Fn(lambda x: x.mean((2, 3))), 0),
    Case("globalmaxpool", ((3, 5, 5),), "globalmaxpool", lambda: Fn(lambda x: x.amax((2, 3))), 0),
    Case("adaptiveavgpool", ((3, 7, 7),), "adaptiveavgpool 3", lambda: nn.AdaptiveAvgPool2d(3), 0),
    Case("adaptivemaxpool", ((3, 7, 7),), "adaptivemaxpool (2, 3)", lambda: nn.AdaptiveMaxPool2d((2, 3)), 0),
    # one multiply by the coefficient per output unit
    Case("subsample", ((3, 8, 8),), "subsample 2", lambda: Subsample(3, 2), 3 * 4 * 4),
    Case("relu", ((3, 4, 4),), "relu", lambda: nn.ReLU(), 0),
    Case("relu6", ((3, 4, 4),), "relu6", lambda: nn.ReLU6(), 0),
    Case("gelu", ((3, 4, 4),), "gelu", lambda: nn.GELU(), 0),
    Case("silu", ((3, 4, 4),), "silu", lambda: nn.SiLU(), 0),
    Case("tanh", ((3, 4, 4),), "tanh", lambda: nn.Tanh(), 0),
    Case("sigmoid", ((3, 4, 4),), "sigmoid", lambda: nn.Sigmoid(), 0),
    Case("hardswish", ((3, 4, 4),), "hardswish", lambda: nn.Hardswish(), 0),
    Case("hardsigmoid", ((3, 4, 4),), "hardsigmoid", lambda: nn.Hardsigmoid(), 0),
    Case("leakyrelu", ((3, 4, 4),), "leakyrelu 0.2", lambda: nn.LeakyReLU(0.2), 0),
    Case("elu", ((3, 4, 4),), "elu 0.5", lambda: nn.ELU(0.5), 0),
    Case("prelu", ((3, 4, 4),), "prelu", lambda: nn.PReLU(3), 0),
    Case("softmax", ((10,),), "softmax", lambda: nn.Softmax(1), 0),
    # the same kinds in other ranks and modes, and by their other names
    Case("conv", ((3, 7, 7),), "conv 4 3 pad=same dilation=2", conv(3, 4, 3, padding="same", dilation=2),
         4 * 7 * 7 * 9 * 3, True),
    Case("dense", ((7,),), "fc 5 bias=false", lambda: nn.Linear(7, 5, bias=False), 7 * 5, True),
    Case("rbf", ((6,),), "rbf 4 trainable", lambda: RBF(6, 4).requires_grad_(True), 6 * 4),
    Case("batchnorm", ((4, 10),), "bn", lambda: nn.BatchNorm1d(4), 0),
    Case("batchnorm", ((2, 3, 4, 4),), "bn affine=false", lambda: nn.BatchNorm3d(2, affine=False), 0),
    Case("maxpool", ((3, 9),), "maxpool 3", lambda: nn.MaxPool1d(3), 0),
    Case("avgpool", ((2, 6, 6, 6),), "avgpool 2", lambda: nn.AvgPool3d(2), 0),
    Case("globalavgpool", ((3, 5, 5),), "gap keepdims", lambda: nn.AdaptiveAvgPool2d(1), 0),
    Case("upsample", ((3, 4, 4),), "upsample 2 mode=bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear"), 0),
    Case("convtranspose", ((3, 5),), "deconv 2 3 stride=2 pad=1 output_padding=1",
         lambda: nn.ConvTranspose1d(3, 2, 3, 2, 1, 1), 3 * 5 * 2 * 3, True),
]
ENDS = {"input", "output"}  # a network's ends, not layers
IDS = [f"{c.kind}:{c.stmt}" for c in CASES]


def spec(c: Case) -> str:
    lines = [f"    x{i} = input {'x'.join(map(str, s))}" for i, s in enumerate(c.inputs)]
    if len(c.inputs) == 1:
        lines = [f"    input {'x'.join(map(str, c.inputs[0]))}"]
    return "network t:\n" + "\n".join(lines) + f"\n    {c.stmt}\n"


def layer(c: Case) -> archspec.Row:
    rows = [r for r in archspec.analyze(spec(c)).rows if r.kind not in ENDS]
    assert len(rows) == 1, rows
    return rows[0]


def float_buffers(m: Any) -> int:
    return sum(b.numel() for b in m.buffers() if b.is_floating_point())


def test_every_kind_has_a_row() -> None:
    kinds = {k.name for k in REGISTRY.values()} - ENDS
    assert kinds - {c.kind for c in CASES} == set()
    for c in CASES:
        assert REGISTRY[c.stmt.split()[0]].name == c.kind, c


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_shape_parameters_and_buffers_agree_with_pytorch(c: Case) -> None:
    torch.manual_seed(0)
    ref = c.module()
    xs = [torch.randn(2, *s) for s in c.inputs]
    row = layer(c)
    assert row.kind == c.kind
    assert row.output_shape == tuple(ref.eval()(*xs).shape[1:])
    assert row.params == sum(p.numel() for p in ref.parameters())
    assert row.trainable_params == sum(p.numel() for p in ref.parameters() if p.requires_grad)
    assert row.buffers == float_buffers(ref)


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_macs(c: Case) -> None:
    assert layer(c).macs == c.macs
    if c.counted:
        from torch.utils.flop_counter import FlopCounterMode

        ref = c.module().eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            ref(*[torch.randn(1, *s) for s in c.inputs])
        assert counter.get_total_flops() == 2 * c.macs


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_compiled_layer_gives_pytorchs_outputs_on_ported_weights(c: Case) -> None:
    torch.manual_seed(1)
    ref = c.module().eval()
    for p in ref.parameters():  # not the initial values (PReLU's 0.25, ones and zeros of batch norm)
        p.data.normal_()
    for b in ref.buffers():
        if b.is_floating_point():
            b.data.uniform_(0.5, 1.5)
    model = archspec.compile(spec(c)).eval()
    archspec.port_weights(model, ref)
    xs = [torch.randn(2, *s) for s in c.inputs]
    with torch.no_grad():
        torch.testing.assert_close(model(*xs), ref(*xs), rtol=1e-5, atol=1e-5)
