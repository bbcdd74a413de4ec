"""`--convention`: MACs and memory as the peer tools count them (docs/conventions.md; issue 11 items 14-17).

Two kinds of checks:

- the issue's figures, from the peers' recorded outputs (torchinfo 1.8.0, fvcore 0.1.5, thop 0.1.1,
  ptflops 0.7.5), asserted exactly;
- the peers themselves, run live on the same layers written by hand as PyTorch's own modules (not
  compiled by archspec). torchinfo, fvcore, thop and ptflops are the project's `peers` extra, which CI
  installs; a test skips where its peer is not installed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import archspec

torch = pytest.importorskip("torch")
nn = torch.nn

# The first 30 parameter tensors of ResNet-18 (torchvision's order, and archspec's): conv1 and its batch
# norm (3), stage1's two blocks (6 each), stage2's first block with its projection (9), stage2's second (6).
FIRST_30_TENSORS = ["conv1", "batchnorm1", "stage1", "stage2"]


def net(shape: str, *layers: str) -> str:
    return f"network t:\n    input {shape}\n" + "".join(f"    {line}\n" for line in layers)


def macs(text: str, convention: str, **kw: Any) -> int:
    return archspec.analyze(text, convention=convention, **kw).totals.macs


# -- the figures --------------------------------------------------------------------------------

def test_torchinfo_counts_frozen_layers() -> None:
    # issue 11 item 14: torchinfo's recorded output, ResNet-18 at 3×64×64 with its first 30 parameter tensors
    # frozen: 148,568,424 mult-adds (archspec said 67,629,544: frozen layers counted 0)
    a = archspec.analyze("resnet", depth=18, input="3x64x64", convention="torchinfo", freeze=FIRST_30_TENSORS)
    assert a.totals.macs == 148_568_424
    assert a.totals.trainable_params == 11_006_440  # torchinfo's "Trainable params" of the same model
    assert macs("resnet", "torchinfo", depth=18, input="3x64x64") == 148_568_424  # freezing changes nothing
    # a `frozen:` block is the same mark: every kind's torchinfo rule counts its frozen parameters
    body = ["conv 4 3x3 bias=false", "bn", "prelu", "upconv 2 2 stride=2", "dwconv 3", "flatten", "dense 3"]
    free = net("3x8x8", *body)
    frozen = net("3x8x8", "frozen:", *("    " + line for line in body))
    assert archspec.analyze(frozen).totals.trainable_params == 0
    assert macs(frozen, "torchinfo") == macs(free, "torchinfo") > 0


def test_torchinfo_counts_frozen_layers_live() -> None:
    torchinfo = pytest.importorskip("torchinfo")
    model = archspec.compile("resnet", depth=18, input="3x64x64", freeze=FIRST_30_TENSORS)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen == [n for n, _ in model.named_parameters()][:30]  # the first 30 tensors, and only those
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = torchinfo.summary(model, input_size=(1, 3, 64, 64), verbose=0, device="cpu")
    assert (s.total_mult_adds, s.trainable_params) == (148_568_424, 11_006_440)


@pytest.mark.parametrize(("affine", "fvcore", "thop", "ptflops"), [
    (False, 800, 1_600, 800),  # issue 11 item 15: fvcore and thop on BatchNorm2d(8, affine=False), 8×10×10
    (True, 1_600, 3_200, 1_600),
])
def test_batch_norm_without_affine(affine: bool, fvcore: int, thop: int, ptflops: int) -> None:
    text = net("8x10x10", f"batchnorm affine={str(affine).lower()}")
    assert (macs(text, "fvcore"), macs(text, "thop"), macs(text, "ptflops")) == (fvcore, thop, ptflops)


def test_ptflops_transposed_convolution() -> None:
    # issue 11 item 16: ConvTranspose2d(3, 2, 3, stride=2) on 3×224×224 (output 2×449×449). ptflops 0.7.5:
    # input positions × k × C_in × C_out + bias × output = 3,112,706 (archspec followed the old rule:
    # output positions, 11,289,656)
    assert macs(net("3x224x224", "convtranspose 2 3 stride=2"), "ptflops") == 3_112_706


# -- torchinfo's memory figures (issue 11 item 17) ---------------------------------------------------------

# torchinfo.summary of the model archspec.compile builds, batch 1: "Input size (MB)", "Forward/backward pass
# size (MB)", "Params size (MB)", "Estimated Total Size (MB)" as it prints them, and the bytes behind them.
MEMORY = [
    ("vgg16", {}, ("0.60", "108.45", "553.43", "662.49"), 108_453_696, 553_430_176),
    ("resnet", {"depth": 18}, ("0.60", "39.75", "46.76", "87.11"), 39_747_392, 46_758_048),
    ("lenet5", {}, ("0.00", "0.05", "0.25", "0.30"), 52_144, 246_824),
]
LABELS = ("Input size (MB)", "Forward/backward pass size (MB)", "Params size (MB)", "Estimated Total Size (MB)")


@pytest.mark.parametrize(("spec", "params", "printed", "fwd_bwd", "param_bytes"), MEMORY,
                         ids=[m[0] for m in MEMORY])
def test_torchinfo_memory(spec: str, params: dict[str, int], printed: tuple[str, ...], fwd_bwd: int,
                          param_bytes: int) -> None:
    a = archspec.analyze(spec, convention="torchinfo", **params)
    m = a.totals.torchinfo_memory
    assert m is not None
    assert (m["forward_backward_bytes"], m["params_bytes"]) == (fwd_bwd, param_bytes)
    lines = dict(a.summary_lines())
    assert tuple(lines[label].split()[0] for label in LABELS) == printed
    assert a.to_dict()["totals"]["torchinfo_memory"] == m
    # the other conventions do not show them
    assert archspec.analyze(spec, **params).totals.torchinfo_memory is None
    assert "Params size (MB)" not in dict(archspec.analyze(spec, **params).summary_lines())


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "params", "batch", "freeze"), [
    ("vgg16", {}, 1, ()), ("resnet", {"depth": 18}, 1, ()), ("lenet5", {}, 1, ()), ("lenet5_1998", {}, 3, ()),
    ("mobilenet_v1", {}, 2, ()), ("googlenet", {}, 1, ()),
    ("resnet", {"depth": 18, "input": "3x64x64"}, 4, tuple(FIRST_30_TENSORS)),
])
def test_torchinfo_memory_live(spec: str, params: dict[str, Any], batch: int, freeze: tuple[str, ...]) -> None:
    torchinfo = pytest.importorskip("torchinfo")
    a = archspec.analyze(spec, convention="torchinfo", batch=batch, freeze=list(freeze), **params)
    model = archspec.compile(spec, freeze=list(freeze), **params)
    shape = next(iter(a.inputs.values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = torchinfo.summary(model, input_size=(batch, *shape), verbose=0, device="cpu")
    m = a.totals.torchinfo_memory
    assert m is not None
    assert (a.totals.macs, m["forward_backward_bytes"], m["params_bytes"]) == (
        s.total_mult_adds, s.total_output_bytes, s.total_param_bytes)
    # torchinfo's input size is sys.getsizeof of the tensor's storage: its bytes plus Python's object header
    assert 0 <= s.total_input - m["input_bytes"] <= 128
    printed = {line.split(":")[0]: line.split(": ")[1] for line in str(s).splitlines() if "(MB)" in line}
    ours = dict(a.summary_lines())
    for label in LABELS:
        assert ours[label].split()[0] == printed[label], label


# -- live: the peers on PyTorch's own modules -------------------------------------------------------------

Model = Callable[[], Any]

# archspec spec body (after `input SHAPE`), and the same network written with PyTorch's modules
LIVE: list[tuple[str, list[str], Model]] = [
    ("3x8x8", ["conv 4 3 relu", "maxpool 2"], lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2))),
    ("3x8x8", ["conv 4 3 bias=false", "bn", "prelu", "avgpool 2", "flatten", "dense 5"],
     lambda: nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.PReLU(4), nn.AvgPool2d(2),
                           nn.Flatten(), nn.Linear(36, 5))),
    ("3x8x8", ["dwconv 3 stride=2", "bn affine=false", "relu6", "upsample 2"],
     lambda: nn.Sequential(nn.Conv2d(3, 3, 3, stride=2, groups=3), nn.BatchNorm2d(3, affine=False), nn.ReLU6(),
                           nn.Upsample(scale_factor=2.0))),
    ("8x10x10", ["batchnorm affine=false"], lambda: nn.BatchNorm2d(8, affine=False)),
    ("8x10x10", ["batchnorm"], lambda: nn.BatchNorm2d(8)),
    ("4x10", ["batchnorm affine=false", "batchnorm"], lambda: nn.Sequential(nn.BatchNorm1d(4, affine=False),
                                                                           nn.BatchNorm1d(4))),
    ("2x4x5x5", ["bn affine=false"], lambda: nn.BatchNorm3d(2, affine=False)),
    ("3x224x224", ["convtranspose 2 3 stride=2"], lambda: nn.ConvTranspose2d(3, 2, 3, stride=2)),
    ("4x9", ["convtranspose 6 3 stride=3 groups=2 output_padding=1"],
     lambda: nn.ConvTranspose1d(4, 6, 3, stride=3, output_padding=1, groups=2)),
    ("4x5x5x5", ["upconv 6 2 stride=2 bias=false"], lambda: nn.ConvTranspose3d(4, 6, 2, stride=2, bias=False)),
    ("5x6x6", ["tanh", "sigmoid", "silu", "hardswish", "hardsigmoid", "gelu", "elu", "leakyrelu 0.1"],
     lambda: nn.Sequential(nn.Tanh(), nn.Sigmoid(), nn.SiLU(), nn.Hardswish(), nn.Hardsigmoid(), nn.GELU(),
                           nn.ELU(), nn.LeakyReLU(0.1))),
    ("12", ["dense 7 softmax"], lambda: nn.Sequential(nn.Linear(12, 7), nn.Softmax(dim=1))),
    ("4x3x5", ["softmax axis=1"], lambda: nn.Softmax(dim=2)),
    ("3x5x5", ["upsample 2 mode=bilinear"], lambda: nn.Upsample(scale_factor=2.0, mode="bilinear")),
    ("3x5", ["upsample 3 mode=linear", "upsample 2"],
     lambda: nn.Sequential(nn.Upsample(scale_factor=3.0, mode="linear"), nn.Upsample(scale_factor=2.0))),
    ("2x3x4x4", ["upsample 2 mode=trilinear", "upsample 2"],
     lambda: nn.Sequential(nn.Upsample(scale_factor=2.0, mode="trilinear"), nn.Upsample(scale_factor=2.0))),
    ("6x7x7", ["gap"], lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())),
    ("6x9", ["gap"], lambda: nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten())),
    ("2x4x6x6", ["gap"], lambda: nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten())),
    ("6x8x8", ["adaptiveavgpool 3"], lambda: nn.AdaptiveAvgPool2d(3)),
    ("6x10", ["adaptiveavgpool 4"], lambda: nn.AdaptiveAvgPool1d(4)),
    ("6x8x8", ["adaptivemaxpool 3", "maxpool 2 stride=1"],
     lambda: nn.Sequential(nn.AdaptiveMaxPool2d(3), nn.MaxPool2d(2, stride=1))),
    ("3x9x9", ["avgpool 3 stride=2 pad=1", "lrn 3"],
     lambda: nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1), nn.LocalResponseNorm(3))),
    ("16", ["dense 8 bias=false", "dense 4"], lambda: nn.Sequential(nn.Linear(16, 8, bias=False), nn.Linear(8, 4))),
    ("3x12x12", ["conv 6 3 stride=2 pad=1 groups=3 dilation=2"],
     lambda: nn.Conv2d(3, 6, 3, stride=2, padding=1, groups=3, dilation=2)),
    # issue 13: tokens, layer and group norm
    ("7x10", ["dense 4 axis=-1", "layernorm", "dense 3 axis=-1 bias=false", "layernorm affine=false"],
     lambda: nn.Sequential(nn.Linear(10, 4), nn.LayerNorm(4), nn.Linear(4, 3, bias=False),
                           nn.LayerNorm(3, elementwise_affine=False))),
    ("3x5x6", ["layernorm axes=2 eps=1e-6"], lambda: nn.LayerNorm((5, 6), eps=1e-6)),
    ("16x5x6", ["groupnorm 4", "groupnorm 2 affine=false"],
     lambda: nn.Sequential(nn.GroupNorm(4, 16), nn.GroupNorm(2, 16, affine=False))),
]
IDS = [f"{shape}:{'; '.join(body)}" for shape, body, _ in LIVE]


@contextlib.contextmanager
def quiet() -> Any:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def peer(convention: str, model: Any, shape: tuple[int, ...]) -> int:
    model = copy.deepcopy(model).eval()
    x = torch.randn(1, *shape)
    with quiet():
        if convention == "torchinfo":
            torchinfo = pytest.importorskip("torchinfo")
            return int(torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu").total_mult_adds)
        if convention == "fvcore":
            fvcore_nn = pytest.importorskip("fvcore.nn")
            f = fvcore_nn.FlopCountAnalysis(model, x)
            f.unsupported_ops_warnings(False)
            f.uncalled_modules_warnings(False)
            return int(f.total())
        if convention == "thop":
            thop = pytest.importorskip("thop")
            return int(thop.profile(model, inputs=(x,), verbose=False)[0])
        ptflops = pytest.importorskip("ptflops")
        total, _ = ptflops.get_model_complexity_info(model, shape, as_strings=False, print_per_layer_stat=False,
                                                     backend="pytorch",
                                                     backend_specific_config={"count_functional": False})
        return int(total)


@pytest.mark.parametrize("convention", ["torchinfo", "fvcore", "thop", "ptflops"])
@pytest.mark.parametrize(("shape", "body", "model"), LIVE, ids=IDS)
def test_peers_live(convention: str, shape: str, body: list[str], model: Model) -> None:
    dims = tuple(int(x) for x in shape.split("x"))
    assert macs(net(shape, *body), convention) == peer(convention, model(), dims)


def test_ptflops_default_counts_functionals_twice() -> None:
    # archspec's ptflops figures are ptflops with count_functional=False: its default also counts the
    # functional call inside nn.ReLU or nn.MaxPool2d, so ReLU and pooling come twice
    ptflops = pytest.importorskip("ptflops")
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2))
    with quiet():
        default, _ = ptflops.get_model_complexity_info(model, (3, 8, 8), as_strings=False,
                                                       print_per_layer_stat=False, backend="pytorch")
    ours = macs(net("3x8x8", "conv 4 3 relu", "maxpool 2"), "ptflops")
    assert ours == peer("ptflops", model, (3, 8, 8)) == 4_320
    assert default == ours + 4 * 6 * 6 + 4 * 6 * 6  # the ReLU's and the pool's inputs once more


# Kinds with no PyTorch module of their own (LeCun's subsampling, connection tables, RBF units, locally
# connected layers, ResNet's zero-padding shortcut, padding that is uneven): the reference is the module
# archspec compiles, as the peers see it.
COMPILED = [
    ("lenet5_1998", {"torchinfo": 333_072, "fvcore": 328_096, "thop": 175_680, "ptflops": 180_588}),
    (net("1x32x32", "local 2 3x3", "flatten", "rbf 4"), None),
    (net("6x14x14", "conv 16 5x5 table=((0, 1, 2),) * 16", "subsample 2"), None),
    (net("4x8x8", "padchannels 8 stride=2"), None),
    (net("4x8x8", "maxpool 3 stride=2 pad=same", "avgpool 2 pad=same"), None),
    (net("4x9x9", "maxpool 3 stride=2 pad=same", "conv 2 4 pad=same"), None),
]


@pytest.mark.parametrize("convention", ["torchinfo", "fvcore", "thop", "ptflops"])
@pytest.mark.parametrize(("spec", "figures"), COMPILED, ids=[c[0].splitlines()[-1].strip() for c in COMPILED])
def test_peers_live_on_compiled_modules(convention: str, spec: str, figures: dict[str, int] | None) -> None:
    a = archspec.analyze(spec, convention=convention)
    theirs = peer(convention, archspec.compile(spec), next(iter(a.inputs.values())))
    assert a.totals.macs == theirs
    if figures:
        assert theirs == figures[convention]


# issue 13's kinds whose PyTorch form is archspec's own (LayerNorm2d, LayerScale, Learned, StochasticDepth)
# or a functional (resize): the peers run on the compiled module itself
COMPILED = [
    ("8x5x6", ["layernorm channels_first", "layernorm channels_first affine=false", "layerscale",
               "stochasticdepth 0.2", "channel_shuffle 2"]),
    ("8x5x6", ["resize 7x9"]), ("8x5x6", ["resize 7x9 mode=nearest"]),
    ("7x12", ["param 3x4"]), ("7x12", ["mean 0"]), ("5x12", ["attention 3"]), ("5x12", ["attention 4 bias=false"]),
    ("5x12", ["attention 3 causal"]),
    ("14x14x12", ["window_attention 3 shift=3"]), ("10x9x8", ["window_attention 2 window=4 bias=false"]),
    ("8x5x6", ["chunk 2 1", "transpose", "permute (1, 2, 0)", "reshape (-1, 4)", "select 0"]),
    # issue 14: recurrent layers (nn.LSTM, nn.GRU, nn.RNN inside archspec's wrapper, which picks a result)
    ("7x5", ["lstm 6"]), ("7x5", ["lstm 4 layers=2 bidirectional bias=false", "select -1"]),
    ("7x5", ["gru 6 layers=2"]), ("7x5", ["gru 4 bias=false output=hidden"]), ("7x5", ["rnn 6 batch_first=false"]),
    ("7x5", ["rnn 3 layers=2 bidirectional output=hidden"]), ("7x5", ["lstm 5 output=cell batch_first=false"]),
    # products of two tensors: functions in forward (fvcore alone counts them)
    ("6x8", ["x = _", "t = transpose", "matmul x t"]), ("6x8", ["x = _", "t = transpose", "matmul t x"]),
    ("3x6x8", ["x = _", "s = select 0", "from x", "u = permute (0, 2, 1)", "matmul s u"]),
    ("3x6x8", ["x = _", "s = select 0", "from x", "u = permute (0, 2, 1)", "matmul x u"]),
    ("6x8", ["x = _", "s = select 0 axis=-1", "matmul s x"]), ("6x8", ["x = _", "s = select 0", "matmul x s"]),
    ("4x6x8", ["x = _", 'einsum "hqd,hkd->hqk" x x']), ("6x8", ["x = _", 'einsum "ij,ij->i" x x']),
    ("6x8", ["x = _", 'einsum "ij,kl->ijkl" x x']), ("6x8", ["x = _", 'einsum "ij,kl" x x']),
    ("6x8", ["x = _", 'einsum "ij,kj" x x']), ("5x3", ["x = _", 'einsum "ij,ik->jk" x x']),
]


@pytest.mark.parametrize("convention", ["torchinfo", "fvcore", "thop", "ptflops"])
@pytest.mark.parametrize(("shape", "body"), COMPILED, ids=[f"{s}:{'; '.join(b)}" for s, b in COMPILED])
def test_peers_on_compiled_modules(convention: str, shape: str, body: list[str]) -> None:
    dims = tuple(int(x) for x in shape.split("x"))
    spec = net(shape, *body)
    assert macs(spec, convention) == peer(convention, archspec.compile(spec), dims)


class _Ids(nn.Module):
    """nn.Embedding fed the peers' random values made token ids (the peers feed floats)."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(50, 8)

    def forward(self, x: Any) -> Any:
        return self.embedding((x.abs() * 10).long() % 50)


@pytest.mark.parametrize("convention", ["torchinfo", "fvcore", "thop", "ptflops"])
def test_peers_on_an_embedding(convention: str) -> None:
    """A lookup: torchinfo counts its parameters (vocab · dim) once, the others nothing, as archspec."""
    ours = macs(net("12 tokens vocab=50", "embedding 50 8"), convention)
    assert ours == peer(convention, _Ids(), (12,)) == (400 if convention == "torchinfo" else 0)
