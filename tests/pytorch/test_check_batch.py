"""`archspec check` at its default batch on networks with batch norm after global pooling (issue 11,
item 1): the meta run in training mode at batch 1 gave batch norm one value per channel, and PyTorch
refused it (`Expected more than 1 value per channel when training`), an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from archspec.cli import main  # noqa: E402

# a ConvNeXt-like head (pooled maps, then batch norm on C×1×1) and an SE-like one (batch norm on the
# pooled vector)
HEADS = {
    "pooled-maps": ("network head:\n    input 3x8x8\n    conv 32 3x3 pad=1 relu\n    avgpool 8\n    batchnorm\n"
                    "    flatten\n    dense 10 softmax\n",
                    nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(8), nn.BatchNorm2d(32),
                                  nn.Flatten(), nn.Linear(32, 10), nn.Softmax(dim=1))),
    "pooled-vector": ("network head:\n    input 3x8x8\n    conv 32 3x3 pad=1 relu\n    gap\n    batchnorm\n"
                      "    dense 10 softmax\n",
                      nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                    nn.BatchNorm1d(32), nn.Linear(32, 10), nn.Softmax(dim=1))),
}


def _macs_per_sample(model: nn.Module) -> float:
    """PyTorch's own count for one sample (evaluation mode: batch norm takes one sample there)."""
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(1, 3, 8, 8))
    return counter.get_total_flops() / 2


@pytest.mark.parametrize("name", list(HEADS))
def test_check_works_at_its_default_batch_with_batch_norm_after_pooling(name: str, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    text, reference = HEADS[name]
    (tmp_path / "head.arch").write_text(text)
    assert main(["--no-color", "check", str(tmp_path / "head.arch"), "--format", "json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["problems"] == []
    macs = {t["name"]: t for t in report["totals"]}["MACs (FlopCounterMode / 2)"]
    assert macs["torch"] == macs["spec"] == _macs_per_sample(reference)  # per sample, as PyTorch counts one
    assert report["cpu"].startswith("ran in") and "batch 1, evaluation mode" in report["cpu"]
