"""archspec.compile: every shipped spec becomes a PyTorch module that agrees with the analysis (shapes,
parameters, buffers, MACs as torch.utils.flop_counter counts them); the generated file rebuilds the
same module; the module works with TorchScript, torch.compile, torch.export, channels_last and autocast.

The figures compared come from PyTorch itself (numel, FlopCounterMode, the shapes a forward gives).
Big networks run on the meta device (no weights, no arithmetic); real forwards use small inputs."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import pytest
import torch
from conftest import SPECS

import archspec
from archspec.pytorch.check import check
from archspec.pytorch.module import sample_input, spec_graph

ALL_SPECS = sorted(SPECS.rglob("*.arch"))
IDS = [str(p.relative_to(SPECS)) for p in ALL_SPECS]
REAL_FORWARD_MACS = 400_000_000  # real CPU forwards in these tests stay below this many MACs


def small_input(spec: Path) -> tuple[int, ...] | None:
    """The smallest square (cubic) input the spec accepts with at most REAL_FORWARD_MACS, else None."""
    a = archspec.analyze(spec)
    if len(a.inputs) != 1:
        return None
    (shape,) = a.inputs.values()
    candidates = [shape] if len(shape) == 1 else [(shape[0], *[n] * (len(shape) - 1)) for n in (8, 16, 32, 64, 128)]
    for s in candidates:
        try:
            b = archspec.analyze(spec, input=s)
        except archspec.SpecError:
            continue
        return s if b.totals.macs <= REAL_FORWARD_MACS and b.totals.params <= 30_000_000 else None
    return None


def load_file(source: str, name: str = "<generated>") -> dict:
    namespace: dict = {"__name__": "generated_test_module"}
    exec(compile(source, name, "exec"), namespace)
    return namespace


# -- every shipped spec ---------------------------------------------------------------------------

@pytest.mark.slow  # every shipped network
@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_spec_agrees_with_analysis(spec):
    """On the meta device: per layer and in total, the module's shapes, parameters (all and trainable),
    buffers and FlopCounterMode MACs equal the analysis's; the parameters are the sum of numel()."""
    report = check(spec, cpu=False)
    bad = [(r.name, r.differences) for r in report.layers if not r.ok]
    assert not bad, bad
    totals = {t.name: t for t in report.totals}
    a = archspec.analyze(spec)
    assert totals["parameters"].torch == a.totals.params
    assert totals["MACs (FlopCounterMode / 2)"].torch == a.totals.macs
    assert totals["buffers"].torch == a.totals.buffers
    assert report.ok, [t for t in report.totals if not t.ok]


@pytest.mark.slow  # every shipped network
@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_generated_file_builds_the_same_module(spec):
    """The standalone file, executed, builds a module with the same structure, names and shapes."""
    source = archspec.generate_code(spec)
    ast.parse(source)
    with torch.device("meta"):
        ns = load_file(source)
        model = archspec.compile(spec, device="meta")
        from_file = ns[type(model).__name__]()
    assert repr(from_file) == repr(model)
    assert [(k, v.shape) for k, v in from_file.state_dict().items()] == \
        [(k, v.shape) for k, v in model.state_dict().items()]
    assert [p.requires_grad for p in from_file.parameters()] == [p.requires_grad for p in model.parameters()]
    assert from_file.loss_weights == model.loss_weights


@pytest.mark.slow  # whole networks run forward
@pytest.mark.parametrize("spec", ALL_SPECS, ids=IDS)
def test_real_forward_on_a_small_input(spec):
    """A real CPU forward at a small input: every output has the analysed shape and finite values,
    and the generated file, given the same weights, computes the same numbers."""
    shape = small_input(spec)
    if shape is None:
        pytest.skip(f"above {REAL_FORWARD_MACS:,} MACs or 30 M parameters even at its smallest input: "
                    "test_spec_agrees_with_analysis covers it on the meta device")
    torch.manual_seed(0)
    model = archspec.compile(spec, input=shape).eval()
    g = spec_graph(spec, input=shape)
    x = sample_input(g, g.inputs[0], 2)  # values, or token ids below the vocabulary (lstm_classifier)
    with torch.no_grad():
        y = model(x)
    a = archspec.analyze(spec, input=shape)
    assert tuple(y.shape[1:]) == next(iter(a.outputs.values()))
    assert torch.isfinite(y).all()
    ns = load_file(archspec.generate_code(spec, input=shape))
    other = ns[type(model).__name__]().eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        # the same operations on the same weights; CPU kernels may still round differently between two
        # allocations (vectorised paths depend on alignment), so equal to float32 precision, not bitwise
        torch.testing.assert_close(other(x), y, rtol=1e-6, atol=1e-7)


# -- structure and names --------------------------------------------------------------------------

def test_modules_follow_the_spec_hierarchy_and_order():
    model = archspec.compile("resnet", depth=50, device="meta")
    g = spec_graph("resnet", depth=50)
    assert isinstance(model.get_submodule("stage3.bottleneck2.residual.conv1"), torch.nn.Conv2d)
    assert isinstance(model.stage1, torch.nn.Sequential) and type(model.stage1.bottleneck1).__name__ == "Bottleneck"
    # parameters in the spec's layer order: a hand-written equivalent's state_dict lines up by position
    layer_order = [n.id for n in g if n.op == "layer" and n.kind in ("conv", "dense")]
    weights = [k.removesuffix(".weight") for k, _ in model.named_parameters() if k.endswith("weight")
               and isinstance(model.get_submodule(k.removesuffix(".weight")), (torch.nn.Conv2d, torch.nn.Linear))]
    assert weights == layer_order


def test_forward_is_generated_straight_line_code():
    source = archspec.generate_code("resnet_cifar", n=3)
    tree = ast.parse(source)
    forwards = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "forward"
                and "nn.Module" in ast.unparse(tree)]
    generated = [f for f in forwards if all(isinstance(s, (ast.Assign, ast.Return)) for s in f.body)]
    assert generated, "generated forwards are assignments and a return"
    assert "x = self.stage1(x)" in source


def test_tracebacks_show_the_generated_line():
    model = archspec.compile("lenet5")
    with pytest.raises(RuntimeError) as info:
        model(torch.randn(1, 3, 32, 32))  # three channels where the spec has one
    frames = [f for f in traceback.extract_tb(info.value.__traceback__) if f.filename.startswith("<archspec:")]
    assert frames and frames[-1].line == "x = self.conv1(x)"


# -- several outputs -------------------------------------------------------------------------------

AUX = """
network twoheads(classes = 5):
    input 3x16x16
    conv 8 3x3 pad=1 relu
    trunk = conv 8 3x3 stride=2 pad=1 relu
    gap
    aux = dense classes
    from trunk
    conv 16 3x3 pad=1 relu
    gap
    dense classes
    output
    output aux weight=0.3
"""


def test_auxiliary_outputs_in_training_and_evaluation():
    model = archspec.compile(AUX)
    assert model.loss_weights == {"out": 1.0, "aux": 0.3}
    x = torch.randn(2, 3, 16, 16)
    out = model.train()(x)
    assert out._fields == ("out", "aux")
    assert out.out.shape == (2, 5) and out.aux.shape == (2, 5)
    loss = sum(w * getattr(out, k).square().mean() for k, w in model.loss_weights.items())
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    main = model.eval()(x)
    assert isinstance(main, torch.Tensor) and torch.equal(main, out.out)


def test_auxiliary_outputs_in_the_generated_file():
    model = archspec.compile(AUX)
    ns = load_file(archspec.generate_code(AUX))
    other = ns["Twoheads"]()
    other.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(other.eval()(x), model.eval()(x))
    assert other.train()(x)._fields == ("out", "aux")
    assert other.loss_weights == {"out": 1.0, "aux": 0.3}


@pytest.mark.slow  # a fresh process, a whole export or training run: seconds
def test_pickle_deepcopy_and_torch_save(tmp_path):
    import copy
    import pickle

    model = archspec.compile(AUX).eval()
    x = torch.randn(2, 3, 16, 16)
    for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert type(other) is type(model) and torch.equal(other(x), model(x))
    torch.save(model, tmp_path / "m.pt")
    code = (f"import torch; m = torch.load({str(tmp_path / 'm.pt')!r}, weights_only=False).eval(); "
            f"print(tuple(m(torch.randn(2, 3, 16, 16)).shape))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "(2, 5)"


# -- PyTorch's tools ---------------------------------------------------------------------------------

def test_torchscript():
    model = archspec.compile("resnet_cifar", n=3, input="3x16x16").eval()
    scripted = torch.jit.script(model)
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(scripted(x), model(x))
    aux = torch.jit.script(archspec.compile(AUX).train())
    assert aux(torch.randn(2, 3, 16, 16))[1].shape == (2, 5)


@pytest.mark.slow  # a fresh process, a whole export or training run: seconds
def test_torch_compile_in_one_graph():
    torch._dynamo.reset()
    model = archspec.compile(AUX).eval()
    compiled = torch.compile(model, backend="eager", fullgraph=True)  # fullgraph: no graph breaks
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(compiled(x), model(x))
    assert compiled.train()(x)._fields == ("out", "aux")


def test_torch_export():
    model = archspec.compile(AUX).eval()
    x = torch.randn(2, 3, 16, 16)
    exported = torch.export.export(model, (x,))
    assert torch.allclose(exported.module()(x), model(x))


def test_channels_last_autocast_and_to():
    model = archspec.compile("mobilenet_v1", alpha=0.25, classes=10, input="3x16x16").eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        y = model(x)
        model = model.to(memory_format=torch.channels_last)
        assert torch.allclose(model(x.to(memory_format=torch.channels_last)), y, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert model(x).dtype == torch.bfloat16
        model = model.to(torch.float64)
        assert model(x.double()).dtype == torch.float64


# -- names from the spec are sanitised --------------------------------------------------------------

HOSTILE = """
network net:
    input 3x8x8
    class = conv 4 3x3 pad=1
    forward = relu
    training = conv 4 3x3 pad=1
    self = relu
    torch = add class self
    __init__ = conv 4 1x1
    type = relu
    output name='x"): [/] import os #'
"""


def test_hostile_names_cannot_inject_code():
    g = spec_graph(HOSTILE)
    g.name = 'x"):\n import os #'
    g.source = '/tmp/"""\nimport os\n"""'
    source = archspec.generate_code(g)
    tree = ast.parse(source)
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | \
        {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"torch", "typing", "math", "collections"}, imported
    assert "\nimport os" not in source and " import os\n" not in source
    model = archspec.compile(g)
    ns = load_file(source)
    other = ns[type(model).__name__]()
    other.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(other(x), model(x))
    assert model.training is True and isinstance(model.forward_, torch.nn.ReLU)
    report = check(HOSTILE)  # the outputs keep the spec's names in the report; rich markup is not read
    assert report.ok
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(report.table(everything=True))
    assert 'x"): [/] import os # 4×8×8' in console.export_text()


# -- the file in a fresh process ---------------------------------------------------------------------

@pytest.mark.slow  # a fresh process, a whole export or training run: seconds
def test_generated_file_runs_in_a_fresh_process(tmp_path):
    """The file needs only torch: run with archspec blocked, it loads the compiled weights and gives
    the same outputs (LeNet-5 of 1998: the classic helper modules are inlined into the file)."""
    spec = "lenet5_1998"
    model = archspec.compile(spec).eval()
    (tmp_path / "model.py").write_text(archspec.generate_code(spec))
    torch.manual_seed(1)
    x = torch.randn(4, 1, 32, 32)
    torch.save({"state": model.state_dict(), "x": x}, tmp_path / "data.pt")
    runner = textwrap.dedent(f"""
        import runpy
        import sys
        sys.modules["archspec"] = None  # any import of archspec fails
        import torch
        import model
        net = model.{type(model).__name__}().eval()
        data = torch.load("data.pt")
        net.load_state_dict(data["state"])
        with torch.no_grad():
            torch.save(net(data["x"]), "y.pt")
        runpy.run_path("model.py", run_name="__main__")  # the file's own smoke run
    """)
    (tmp_path / "run.py").write_text(runner)
    out = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, check=True, capture_output=True, text=True,
                         timeout=300)
    assert "output (1, 10)" in out.stdout
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "y.pt"), model(x))


# -- check reports disagreements ---------------------------------------------------------------------

def test_check_finds_a_wrong_builder(monkeypatch):
    from archspec.kinds import KINDS
    from archspec.kinds.torchspec import call

    dense = KINDS["dense"]

    def wrong(self, a, ins, out):  # a dense layer that forgot its bias
        return call("nn.Linear", ins[0][0], a.units, bias=False)

    monkeypatch.setattr(type(dense), "pytorch", wrong)
    report = check("mnist_mlp", cpu=False)
    assert not report.ok
    assert [r.name for r in report.layers if not r.ok] == ["dense1", "dense2", "dense3"]
    assert report.layers[1].differences == ["params", "trainable"]


def test_check_cli(capsys):
    from archspec.cli import main

    assert main(["check", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "all 18 layers agree" in out or "agree" in out
    assert "CPU forward: ran" in out


def test_analysis_does_not_import_torch():
    code = "import archspec, sys; archspec.analyze('vgg16'); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- every layer kind --------------------------------------------------------------------------------

SINKS = {  # every kind with options the shipped specs leave out: uneven `same` padding, 1D and 3D, ...
    "sink2d": """network sink2d:
    input 3x16x16
    conv 8 3x3 stride=2 pad=same dilation=1
    bn; relu6
    dwconv 3x3 pad=1 multiplier=2
    leakyrelu 0.2
    conv2d 16 1x1 groups=2; elu; gelu; silu; hardswish; hardsigmoid; prelu; prelu shared; tanh; sigmoid
    zeropad ((0, 1), (1, 0))
    crop ((0, 1), (1, 0))
    conv 16 3x3 pad=2 dilation=2 bias=false
    maxpool 3 stride=2 pad=same
    avgpool 2 stride=1 pad=same
    upsample 2 mode=bilinear
    convtranspose 8 3x3 stride=2 pad=1 output_padding=1
    lrn 3
    identity
    crop size=14x14
    adaptiveavgpool 4
    adaptivemaxpool 2x2
    x = _
    mul:
        branch: identity
        branch: gap; dense 8 sigmoid
    concat x _
    conv 8 1x1
    add _ x
    subsample 2
    globalmaxpool keepdims
    flatten
    dropout 0.1
    dense 10 bias=false
    softmax
""",
    "sink1d3d": """network sink1d3d:
    a = input 4x32
    conv1d 8 5 pad=same stride=2; bn; relu
    maxpool 2; avgpool 2 pad=1; upsample 2 mode=linear
    convtranspose 4 4 stride=2 pad=1
    local 4 3
    gap
    f = dense 6
    b = input 2x8x8x8
    conv3d 4 3x3x3 pad=1; bn; relu
    maxpool 2; avgpool 2; upsample 2
    convtranspose 4 2x2x2 stride=2
    dwconv 3x3x3 pad=same
    padchannels 8 stride=2
    gap
    concat f _
    rbf 3
""",
    "sinktokens": """network sinktokens:
    input 8x6x6
    image = _
    groupnorm 2; layernorm channels_first eps=1e-6; layerscale 0.5
    stochasticdepth 0.2 mode=batch
    resize 9x9 mode=nearest; resize 7x7
    resize_like _ image
    channel_shuffle 4
    flatten start=1; transpose                  # 36×8 tokens
    reshape (-1, 8)
    tokens = _
    cls = param 1x8 init=normal
    seq = concat cls tokens
    pos = param 37x8 init=ones
    add seq pos
    layernorm axes=2
    dense 12 axis=-1
    permute (1, 0)
    split (4, 8) 1
    transpose
    chunk 2 0 axis=1
    layerscale axis=-1
    x = _
    mean 0 keep
    from x
    select 0
""",
    "sinkattention": """network sinkattention:
    input 8x8x16
    window_attention 2 window=4 shift=2
    window_attention 4 window=3 bias=false dropout=0.1
    reshape (64, 16)
    attention 4 dropout=0.1                     # bias=false: nn.MultiheadAttention without bias does not script
    attention 2 causal freeze=bias
    a = _
    t = transpose                               # 16×64
    s = matmul a t                              # 64×64
    einsum "qk,kd->qd" s a                      # 64×16
""",
    "sinksequence": """network sinksequence:
    input 12 tokens vocab=50
    embed 50 8 padding_idx=0
    lstm 6 layers=2 bidirectional dropout=0.1   # 12×12
    gru 5 batch_first=false
    x = rnn 4 layers=2 bias=false
    h = lstm 3 output=hidden                    # 1×3
    from x
    c = lstm 3 layers=2 bidirectional output=cell   # 4×3
    from x
    g = gru 3 output=hidden                     # 1×3
    concat h c g                                # 6×3
    select -1
""",
}


def test_every_layer_kind_is_compiled_somewhere():
    from archspec.kinds import KINDS

    used = set()
    for text in [*SINKS.values(), *(p.read_text() for p in ALL_SPECS)]:
        used |= {n.kind for n in spec_graph(text)}
    assert set(KINDS) - used == set()


@pytest.mark.parametrize("name", SINKS)
def test_every_kind_agrees_with_analysis_and_file(name):
    report = check(SINKS[name])
    assert report.ok, [(r.name, r.differences) for r in report.layers if not r.ok] + report.problems
    torch.manual_seed(0)
    model = archspec.compile(SINKS[name]).eval()
    g = spec_graph(SINKS[name])
    xs = [torch.randint(0, 50, (2, *g[n].meta.shape)) if g[n].meta.dtype == "int64" else
          torch.randn(2, *g[n].meta.shape) for n in g.inputs]
    other = load_file(archspec.generate_code(SINKS[name]))[type(model).__name__]().eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(other(*xs), model(*xs))
    torch.jit.script(model)


def _run(spec: str, x: torch.Tensor) -> tuple[torch.nn.Module, torch.Tensor]:
    model = archspec.compile(spec).eval()
    with torch.no_grad():
        return model, model(x)


def test_same_padding_puts_the_odd_pixel_after():
    """`pad=same` with stride 2 on 16 pixels pads (0, 1), as TensorFlow does; max pooling pads with −∞."""
    x = torch.randn(1, 2, 16, 16)
    model, y = _run("network n:\n    input 2x16x16\n    conv 3 3x3 stride=2 pad=same\n", x)
    conv = model.conv1[1]
    want = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 1, 0, 1)), conv.weight, conv.bias, stride=2)
    assert torch.allclose(y, want, atol=1e-6)
    _, y = _run("network n:\n    input 2x16x16\n    maxpool 3 stride=2 pad=same\n", -x.abs() - 1)
    want = torch.nn.functional.max_pool2d(torch.nn.functional.pad(-x.abs() - 1, (0, 1, 0, 1), value=-float("inf")), 3, 2)
    assert torch.equal(y, want)


def test_centre_crop_concat_and_channel_broadcast():
    x = torch.randn(1, 2, 9, 9)
    spec = ("network n:\n    input 2x9x9\n    a = _\n    b = conv 2 3x3\n    concat a b crop=center\n"
            "    c = _\n    gap\n    mul c _\n")
    model, y = _run(spec, x)
    b = model.b(x)
    cat = torch.cat([x[:, :, 1:8, 1:8], b], 1)
    assert torch.allclose(y, cat * cat.mean((2, 3))[:, :, None, None], atol=1e-6)


def test_docs_show_what_the_compiler_writes():
    """docs/compile.md quotes generated code and a printed module: they are the current output."""
    doc = (SPECS.parents[1] / "docs" / "compile.md").read_text(encoding="utf-8")
    blocks = [b.split("\n", 1)[1] for b in doc.split("```")[1::2] if "\n" in b]
    basic = next(b for b in blocks if b.startswith("class Basic("))
    assert basic.rstrip() in archspec.generate_code("resnet", depth=18)
    up = next(b for b in blocks if b.startswith("class Up("))
    unet = next(b for b in blocks if "e1 = self.e1(x)" in b)
    assert up.rstrip() in archspec.generate_code("unet") and unet.rstrip() in archspec.generate_code("unet")
    printed = next(b for b in blocks if b.startswith(">>> archspec.compile"))
    assert printed.split("\n", 1)[1].rstrip() == repr(archspec.compile("resnet", depth=18, device="meta").stage2.basic1)


def test_what_cannot_compile_is_a_diagnostic(monkeypatch, capsys, tmp_path):
    spec = "network n:\n    input 3x8x8\n    avgpool 3 stride=2 pad=same count_include_pad=false\n"
    with pytest.raises(archspec.CompileError) as e:
        archspec.compile(spec)
    assert e.value.diagnostic.code == "E200" and "avgpool1" in e.value.diagnostic.message
    from archspec.cli import main
    from archspec.kinds import KINDS

    def refuse(self, a, ins, out):  # a kind without a PyTorch form
        raise NotImplementedError("`identity` has no PyTorch form yet")

    monkeypatch.setattr(type(KINDS["identity"]), "pytorch", refuse)
    spec = "network n:\n    input 3x8x8\n    identity\n"
    monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    (tmp_path / "n.arch").write_text(spec)
    assert main(["compile", str(tmp_path / "n.arch"), "-o", str(tmp_path / "n.py")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error[E200]: layer `identity1` cannot be compiled to PyTorch") and "n.arch:3:5" in err
    assert not (tmp_path / "n.py").exists()
