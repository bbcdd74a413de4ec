"""What one training step holds in memory (`archspec analyze --training`): the weights, their gradients,
the optimizer's state, and the activations autograd keeps for the backward pass at the batch size.

    weights           every parameter and buffer, float32
    gradients         one float32 per trainable parameter
    optimizer state   per trainable parameter: Adam and AdamW 2 floats (the moments), SGD with momentum 1,
                      SGD without 0
    activations       the tensors the forward pass saves for backward, each counted once (a ReLU's output
                      is also the next convolution's input), as PyTorch's autograd saves them for the
                      compiled module: a convolution, a dense layer, batch norm, average pooling and GELU-like
                      activations keep their input; ReLU, tanh, sigmoid and softmax their output; max pooling
                      its input and int64 indices; dropout its mask; reshapes, padding, concatenation and
                      addition nothing; the input batch itself is kept by the first layer. A convolution or
                      pooling with uneven padding (TensorFlow's `same` at stride 2) runs as a pad and then
                      the layer: it keeps the padded input, a tensor of its own, instead of its input

It leaves out what PyTorch's allocator adds (rounding blocks, the caching allocator's free blocks, cuDNN
workspaces) and the gradients flowing through backward at their peak (at most about the largest layer's
activations twice). tests/report/test_training_memory.py checks the activations against the tensors that
autograd's saved-tensor hooks see on the CPU, and the optimizer state against PyTorch's own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from archspec.kinds import KINDS
from archspec.kinds.torchspec import Module
from archspec.report.units import human_bytes

OPTIMIZER_SLOTS = {"adam": 2, "adamw": 2, "sgd": 1, "sgd-nomomentum": 0}
FLOAT = 4
# what a kind's backward needs from its forward: "input", "output", "nothing"; other kinds keep their input
SAVES_OUTPUT = frozenset({"relu", "tanh", "sigmoid", "softmax"})
SAVES_NOTHING = frozenset({"input", "output", "flatten", "identity", "zeropad", "crop", "padchannels", "concat", "add",
                           "globalavgpool", "upsample"})
VIEWS = frozenset({"flatten", "identity"})
MAX_POOLS = frozenset({"maxpool", "globalmaxpool", "adaptivemaxpool"})
LRN_EXTRA = 3  # local response norm is several ops in PyTorch: it keeps about 3 more tensors of its size


@dataclass
class TrainingMemory:
    batch: int
    optimizer: str
    weights: int  # bytes
    gradients: int
    optimizer_state: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_state + self.activations

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total}

    def lines(self) -> list[tuple[str, str]]:
        return [("Training memory", f"batch {self.batch}, {self.optimizer}, float32"),
                ("  weights", human_bytes(self.weights)),
                ("  gradients", human_bytes(self.gradients)),
                ("  optimizer state", human_bytes(self.optimizer_state)),
                ("  activations kept for backward", human_bytes(self.activations)),
                ("  total", human_bytes(self.total))]


def training_memory(a: Any, optimizer: str = "adam", batch: int | None = None) -> TrainingMemory:
    """The training step's memory of an `Analysis` (its batch unless `batch` is given)."""
    if optimizer not in OPTIMIZER_SLOTS:
        raise ValueError(f"unknown optimizer {optimizer!r}; one of {', '.join(OPTIMIZER_SLOTS)}")
    t = a.totals
    b = a.batch if batch is None else batch
    weights = (t.params + t.buffers) * FLOAT
    grads = t.trainable_params * FLOAT
    state = OPTIMIZER_SLOTS[optimizer] * t.trainable_params * FLOAT
    return TrainingMemory(b, optimizer, weights, grads, state, saved_activation_bytes(a.ir, b))


def _elements(shape: Any) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def saved_activation_bytes(ir: Any, batch: int) -> int:
    """The bytes of the tensors autograd keeps for backward (see the module's docstring)."""
    kept: set[str] = set()  # node ids whose output tensor is kept (once, however many layers keep it)
    extra = fixed = 0
    nodes = {n.id: n for n in ir}

    def source(i: str) -> str:  # a flatten or an identity gives a view of its input: the same tensor
        while i in nodes and nodes[i].op == "layer" and nodes[i].kind in VIEWS and nodes[i].inputs:
            i = nodes[i].inputs[0]
        return i
    for n in ir:
        if n.op != "layer" or n.kind in SAVES_NOTHING:
            continue
        out = _elements(n.meta.shape)
        if n.kind in SAVES_OUTPUT:
            kept.add(n.id)
            continue
        padded = _padded_input(n, [nodes[i].meta.shape for i in n.inputs]) if hasattr(n.args, "pad") else 0
        if padded:
            extra += padded * FLOAT
        else:
            kept.update(source(i) for i in n.inputs)
        if n.kind in MAX_POOLS:
            extra += out * 8  # int64 indices
        elif n.kind == "dropout":
            extra += out * FLOAT  # the mask, as PyTorch keeps it (a float per element)
        elif n.kind == "lrn":
            extra += LRN_EXTRA * out * FLOAT
        elif n.kind == "batchnorm":
            fixed += 2 * n.meta.shape[0] * FLOAT  # the batch's mean and inverse deviation
    return sum(_elements(nodes[i].meta.shape) for i in kept if i in nodes) * FLOAT * batch + extra * batch + fixed


def _padded_input(n: Any, ins: list[Any]) -> int:
    """The elements of the padded input of a layer that PyTorch runs as a pad and then the layer (its
    PyTorch form is `nn.Sequential(nn.ZeroPad2d(...), ...)`), 0 for any other layer."""
    t = KINDS[n.kind].pytorch(n.args, ins, n.meta.shape)
    first = t.args[0] if isinstance(t, Module) and t.cls == "nn.Sequential" and t.args else None
    if not isinstance(first, Module) or not first.cls.startswith(("nn.ZeroPad", "nn.ConstantPad")):
        return 0
    flat = first.args[0]  # (left, right, top, bottom, ...): the last axis first
    dims = [int(d) for d in ins[0][1:]]
    for i in range(len(flat) // 2):
        dims[-1 - i] += flat[2 * i] + flat[2 * i + 1]
    return int(ins[0][0]) * _elements(dims)
