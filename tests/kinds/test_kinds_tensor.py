"""Tensors that are not images (issue 13): reshape, flatten of chosen axes, transpose, permute, chunk,
split, channel shuffle, select, mean, dense on the last axis. Each kind compiled and compared with
PyTorch's own operations on random inputs; parameters with numel."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec


def _run(body: str, shape: str, x: torch.Tensor, **kw) -> tuple[torch.Tensor, archspec.Analysis, nn.Module]:
    src = f"network t:\n    input {shape}\n" + "".join(f"    {line}\n" for line in body.splitlines())
    a = archspec.analyze(src, **kw)
    m = archspec.compile(src).eval()
    with torch.no_grad():
        y = m(x)
    assert tuple(y.shape[1:]) == a.outputs["out"]
    return y, a, m


def shuffle_torchvision(x: torch.Tensor, groups: int) -> torch.Tensor:
    """torchvision.models.shufflenetv2.channel_shuffle, as written there."""
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, num_channels, height, width)


X = torch.randn(2, 8, 4, 6)

CASES = [  # (spec body, PyTorch on the batch)
    ("reshape 4x48", lambda x: x.reshape(2, 4, 48)),
    ("reshape (-1, 12)", lambda x: x.reshape(2, -1, 12)),
    ("flatten", lambda x: torch.flatten(x, 1)),
    ("flatten start=1", lambda x: x.flatten(2)),
    ("flatten start=0 end=1", lambda x: x.flatten(1, 2)),
    ("transpose", lambda x: x.transpose(1, 2)),
    ("transpose 0 b=-1", lambda x: x.transpose(1, 3)),
    ("permute (1, 2, 0)", lambda x: x.permute(0, 2, 3, 1)),
    ("chunk 2 1", lambda x: x.chunk(2, dim=1)[1]),
    ("chunk 3 2 axis=2", lambda x: x.chunk(3, dim=3)[2]),
    ("split (3, 5) 1", lambda x: torch.split(x, [3, 5], dim=1)[1]),
    ("channel_shuffle 2", lambda x: shuffle_torchvision(x, 2)),
    ("channel_shuffle 4", lambda x: shuffle_torchvision(x, 4)),
    ("select 1 axis=1", lambda x: x[:, :, 1]),
    ("flatten start=1; transpose; select 0", lambda x: x.flatten(2).transpose(1, 2)[:, 0]),
    ("mean 1", lambda x: x.mean(2)),
    ("mean -1 keep", lambda x: x.mean(3, keepdim=True)),
]


@pytest.mark.parametrize(("body", "ref"), CASES, ids=[c[0] for c in CASES])
def test_moves_as_pytorch(body, ref):
    y, a, _ = _run(body, "8x4x6", X)
    assert torch.equal(y, ref(X))
    assert a.totals.params == 0


def test_dense_on_the_last_axis_is_nn_linear():
    x = torch.randn(3, 7, 10)
    src = "dense 16 axis=-1 gelu\ndense 4 axis=-1"
    ref = nn.Sequential(nn.Linear(10, 16), nn.GELU(), nn.Linear(16, 4))
    a = archspec.analyze(f"network t:\n    input 7x10\n    {src.splitlines()[0]}\n    {src.splitlines()[1]}\n")
    m = archspec.compile(f"network t:\n    input 7x10\n    {src.splitlines()[0]}\n    {src.splitlines()[1]}\n").eval()
    archspec.port_weights(m, ref)
    with torch.no_grad():
        assert torch.equal(m(x), ref(x))
    assert a.totals.params == sum(p.numel() for p in ref.parameters()) == 10 * 16 + 16 + 16 * 4 + 4
    assert a.totals.macs == 7 * (10 * 16 + 16 * 4)
    assert a.outputs["out"] == (7, 4)


def test_flat_dense_still_asks_for_flatten():
    with pytest.raises(archspec.SpecError) as e:
        archspec.analyze("network t:\n    input 3x8x8\n    dense 4\n")
    assert "flatten" in str(e.value.diagnostic.hint)


@pytest.mark.parametrize(("body", "words"), [
    ("reshape 5x10", "do not multiply out"),
    ("reshape (-1, 7)", "not a multiple"),
    ("chunk 3 0", "equal parts"),
    ("chunk 2 2", "part 2"),
    ("split (3, 4) 0", "do not add up"),
    ("permute (0, 1)", "not an order"),
    ("transpose 0 3", "outside"),
    ("channel_shuffle 3", "3 groups"),
    ("dense 4 axis=0", "last axis"),
])
def test_diagnostics(body, words):
    with pytest.raises(archspec.SpecError) as e:
        archspec.analyze(f"network t:\n    input 8x4x6\n    {body}\n")
    d = e.value.diagnostic
    assert words in d.message and d.span is not None and d.expected
