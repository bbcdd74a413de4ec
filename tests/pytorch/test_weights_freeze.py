"""Weight porting by position (against hand-written PyTorch models written here), freezing (the
course's transfer-learning example: VGG-16's convolutional part frozen, a new head trained), and the
`archspec compile` command."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from torch import nn

import archspec
from archspec.cli import main

HEAD = 15_239_105 - 14_714_688  # vgg16_transfer: all parameters − the convolutional part (ACCEPTANCE.md)


class HandLeNet5(nn.Module):
    """LeNet-5 as the course writes it in Keras (specs/lenet5.arch), written by hand."""

    def __init__(self, c2: int = 16, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, c2, 5), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(c2, 120, 5), nn.Tanh())
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, classes),
                                        nn.Softmax(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def test_port_weights_from_a_hand_written_model():
    hand = HandLeNet5().eval()
    model = archspec.compile("lenet5").eval()
    pairs = archspec.port_weights(model, hand)
    assert pairs["conv1.weight"] == "features.0.weight"
    assert pairs["dense2.bias"] == "classifier.3.bias"
    x = torch.randn(8, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), hand(x), atol=1e-6)


def test_port_weights_from_a_state_dict_with_batch_norm():
    spec = "network small:\n    input 3x16x16\n    conv 8 3x3 pad=1 bias=false; bn; relu\n    gap\n    dense 4\n"
    hand = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    hand.train()(torch.randn(16, 3, 16, 16))  # running statistics that are not the initial ones
    hand.eval()
    model = archspec.compile(spec).eval()
    archspec.port_weights(model, hand.state_dict())
    assert torch.equal(model.batchnorm1.running_var, hand[1].running_var)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model(x), hand(x), atol=1e-6)


def test_port_weights_reports_the_first_shape_mismatch_with_both_names():
    model = archspec.compile("lenet5")
    before = model.conv1.weight.detach().clone()
    with pytest.raises(archspec.WeightMismatchError) as e:
        archspec.port_weights(model, HandLeNet5(c2=8))
    msg = str(e.value)
    assert "entry 2: the model's `conv2.weight` is 16×6×5×5 but the source's `features.3.weight` is 8×6×5×5" in msg
    assert torch.equal(model.conv1.weight, before), "nothing is copied when a shape differs"


def test_port_weights_reports_a_missing_tensor():
    model = archspec.compile("lenet5")
    short = {k: v for k, v in HandLeNet5().state_dict().items() if not k.startswith("classifier.3")}
    with pytest.raises(archspec.WeightMismatchError, match=r"model has 10 weight tensors and the source 8: "
                                                            r"the model's `dense2.weight` \(10×84\)"):
        archspec.port_weights(model, short)


# -- freezing ---------------------------------------------------------------------------------------

STAGES = ["stage1", "stage2", "stage3", "stage4", "stage5"]


def _trainable(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def test_frozen_block_in_the_spec():
    """vgg16_transfer with `frozen_stages=5`: the convolutional base frozen (the course's feature extraction)."""
    model = archspec.compile("vgg16_transfer", frozen_stages=5, device="meta")
    a = archspec.analyze("vgg16_transfer", frozen_stages=5)
    assert _trainable(model) == a.totals.trainable_params == HEAD
    assert a.totals.non_trainable_params == 14_714_688
    assert not any(p.requires_grad for p in model.stage3.parameters())
    assert all(p.requires_grad for p in model.dense1.parameters())


def test_freeze_option_matches_the_spec_blocks():
    frozen_in_spec = archspec.compile("vgg16_transfer", frozen_stages=5, device="meta")
    frozen_by_name = archspec.compile("vgg16_transfer", freeze=STAGES, device="meta")
    assert [p.requires_grad for p in frozen_by_name.parameters()] == \
        [p.requires_grad for p in frozen_in_spec.parameters()]
    a = archspec.analyze("vgg16_transfer", freeze=STAGES)
    assert a.totals.trainable_params == HEAD
    one = archspec.compile("vgg16_transfer", freeze=["stage5.conv3"], device="meta")
    assert [n for n, p in one.named_parameters() if not p.requires_grad] == ["stage5.conv3.weight", "stage5.conv3.bias"]


def test_transfer_learning_trains_only_the_head():
    torch.manual_seed(0)
    model = archspec.compile("vgg16_transfer", input="3x32x32", freeze=STAGES)
    conv = model.stage1.conv1.weight.detach().clone()
    head = model.dense1.weight.detach().clone()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    loss = nn.functional.binary_cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert model.stage1.conv1.weight.grad is None
    assert torch.equal(model.stage1.conv1.weight, conv)
    assert not torch.equal(model.dense1.weight, head)


def test_generated_file_keeps_frozen_layers():
    source = archspec.generate_code("vgg16_transfer", freeze=["stage1", "stage2"])
    assert "self.stage1.requires_grad_(False)" in source
    ns: dict = {}
    with torch.device("meta"):
        exec(compile(source, "<generated>", "exec"), ns)
        model = ns["Vgg16Transfer"]()
    frozen = {n.split(".")[0] for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"stage1", "stage2"}


def test_freeze_of_an_unknown_name():
    with pytest.raises(archspec.SpecError) as e:
        archspec.compile("vgg16_transfer", freeze=["stage6"], device="meta")
    d = e.value.diagnostic
    assert d.code == "E205" and "stage6" in d.message and "stage5" in (d.hint or "")


def test_freeze_on_the_command_line(capsys):
    assert main(["analyze", "vgg16_transfer", "--format", "json", *(a for s in STAGES for a in ("--freeze", s))]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert totals["trainable_params"] == HEAD


# -- the compile command ------------------------------------------------------------------------------

def test_compile_command_writes_the_file(tmp_path, capsys):
    out = tmp_path / "lenet.py"
    assert main(["compile", "lenet5", "-o", str(out), "--class-name", "LeNet5"]) == 0
    ns: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), ns)
    assert sum(p.numel() for p in ns["LeNet5"]().parameters()) == 61_706
    assert main(["compile", "lenet5"]) == 0
    assert "class Lenet5(nn.Module):" in capsys.readouterr().out


def test_compile_command_without_onnx(monkeypatch, tmp_path, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["compile", "lenet5", "--onnx", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error[E209]: --onnx needs the `onnx` package, which is not installed: pip install 'archspec[onnx]'"
    assert not (tmp_path / "m.onnx").exists()


def test_compile_command_onnx(tmp_path):
    onnx = pytest.importorskip("onnx", reason="ONNX export is an optional extra: pip install onnx")
    path = tmp_path / "m.onnx"
    assert main(["compile", "lenet5", "--onnx", str(path)]) == 0
    m = onnx.load(str(path))
    onnx.checker.check_model(m)
    assert [o.name for o in m.graph.output] == ["out"]
