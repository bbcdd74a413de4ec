"""What one training step holds in memory (`archspec analyze --training`): the weights, their gradients,
the optimizer's state, and the activations autograd keeps for the backward pass at the batch size.

    weights           every parameter and buffer, float32
    gradients         one float32 per trainable parameter
    optimizer state   per trainable parameter: Adam and AdamW 2 floats (the moments), SGD with momentum 1,
                      SGD without 0
    activations       the tensors the forward pass saves for backward, each storage counted once (a ReLU's
                      output is also the next convolution's input), as PyTorch's autograd saves them for
                      the compiled module on the CPU. The rule of every kind (`rule_of`):
                      - its input: convolutions, dense, GELU-like activations, average pooling, layer
                        scale, mul, matmul, einsum (both inputs);
                      - its output: ReLU, tanh, sigmoid, softmax;
                      - nothing: views (flatten, reshape, permute, transpose, select, chunk, split: the
                        storage is the input's), add, concat, padding, resize, mean, param;
                      - its own rule: max pooling (+ int64 indices), subsampling and RBF units (+ a
                        tensor of the output's size), a table convolution (its gathered maps), batch/group/layer norm (+ mean and
                        inverse deviation per channel, group or row), dropout (a float mask, none at
                        p = 0), stochastic depth (a float per sample), embedding (int64 ids), attention
                        (fused: q, k, v, output, logsumexp; with dropout the math path: + weights, mask,
                        dropped weights), window attention (its padded windows, q, k, v, output, softmax
                        weights), RNN/GRU/LSTM (per-step states; an LSTM oneDNN's workspace, a fit).
                      A dense layer or layer norm after a permute or transpose keeps a contiguous copy.
                      A convolution or pooling with uneven padding (TensorFlow's `same` at stride 2) runs
                      as a pad and then the layer: it keeps the padded input instead of its input.
                      On a GPU the figures differ for RNNs (cuDNN keeps a reserve space instead of
                      oneDNN's workspace) and may for attention (other fused kernels); these are the CPU's.

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
# what a kind's backward needs from its forward (rule_of: every kind is in one of the sets below)
SAVES_OUTPUT = frozenset({"relu", "tanh", "sigmoid", "softmax"})
SAVES_NOTHING = frozenset({"input", "output", "flatten", "identity", "zeropad", "crop", "padchannels", "concat", "add",
                           "globalavgpool", "upsample", "param", "mean", "channel_shuffle", "resize", "resize_like"})
# layers that give a view of their input (the same storage); a permute or transpose makes the next layer
# that needs a contiguous input (layer norm, dense) copy it
VIEWS = frozenset({"flatten", "identity", "select", "chunk", "split", "permute", "transpose", "reshape"})
REORDERS = frozenset({"permute", "transpose"})
COPIES_PERMUTED = frozenset({"layernorm", "dense"})
RNNS = frozenset({"rnn", "gru", "lstm"})
# oneDNN's LSTM workspace, per call (layer and direction): (15·T + 10)·H floats per sample (measured at large
# batches), its 7 parts each rounded up to a 4 KiB page: half a page each on average, 7 pages at the least
LSTM_MIN_WORKSPACE = 7 * 4096
LSTM_PAGES_ROUNDING = 7 * 4096 // 2
MAX_POOLS = frozenset({"maxpool", "globalmaxpool", "adaptivemaxpool"})
LRN_EXTRA = 3  # local response norm is several ops in PyTorch: it keeps about 3 more tensors of its size
# the kinds that keep their input(s) and nothing more, as autograd does for a product with a weight (conv,
# dense), a product of two activations (mul, matmul, einsum: both) and an activation whose derivative needs
# its input (GELU, SiLU, ELU, hard swish, ...)
KEEPS_INPUT = frozenset({"conv", "conv1d", "conv2d", "conv3d", "convtranspose", "dwconv", "dense", "local",
                         "gelu", "silu", "elu", "leakyrelu", "prelu", "relu6", "hardswish", "hardsigmoid",
                         "avgpool", "adaptiveavgpool", "layerscale", "mul", "matmul", "einsum"})
# the kinds with a rule of their own (below); every kind is in one of these sets (a test checks it)
KEEPS_MORE = frozenset({"subsample", "rbf", "batchnorm", "layernorm", "groupnorm", "lrn", "dropout", "stochasticdepth", "embedding",
                        "attention", "window_attention", *MAX_POOLS, *RNNS})


def rule_of(kind: str) -> str:
    """Which rule a kind's saved tensors follow: "nothing", "view", "output", "input" or "own"."""
    for name, kinds in (("view", VIEWS), ("nothing", SAVES_NOTHING), ("output", SAVES_OUTPUT),
                        ("input", KEEPS_INPUT), ("own", KEEPS_MORE)):
        if kind in kinds:
            return name
    raise KeyError(f"no training-memory rule for the layer kind {kind!r}")


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

    def source(i: str) -> str:  # a view (flatten, permute, select, ...) shares its input's storage
        while i in nodes and nodes[i].op == "layer" and nodes[i].kind in VIEWS and nodes[i].inputs:
            i = nodes[i].inputs[0]
        return i

    def permuted(i: str) -> bool:  # a permute or transpose on the way: a kernel wanting contiguous input copies
        while i in nodes and nodes[i].op == "layer" and nodes[i].kind in VIEWS and nodes[i].inputs:
            if nodes[i].kind in REORDERS:
                return True
            i = nodes[i].inputs[0]
        return False
    for n in ir:
        if n.op not in ("layer", "merge") or rule_of(n.kind) in ("nothing", "view"):
            continue
        out = _elements(n.meta.shape)
        ins = [nodes[i].meta.shape for i in n.inputs]
        if n.kind in SAVES_OUTPUT:
            kept.add(n.id)
            continue
        if n.kind == "embedding":  # the int64 indices
            extra += _elements(ins[0]) * 8
            continue
        if n.kind == "dropout":  # the mask, as PyTorch keeps it (a float per element); nothing at p = 0
            extra += out * FLOAT if float(n.args.p) > 0 else 0
            continue
        if n.kind == "lstm":
            if not getattr(n.args, "bidirectional", False):  # oneDNN's LSTM keeps its output
                kept.add(n.id)
            fixed += sum(max(LSTM_PAGES_ROUNDING, LSTM_MIN_WORKSPACE - w * FLOAT * batch)
                         for w in _lstm_workspaces(n, ins))
        if n.kind == "stochasticdepth":  # the per-sample keep mask only (x * mask, the mask needs no grad)
            if getattr(n.args, "p", 0) > 0:
                fixed += FLOAT * batch
            continue
        if getattr(n.args, "table", None):  # LeNet-5's table convolution: per group size, a gather and a conv
            links = sum(len(t) for t in n.args.table)
            extra += links * _elements(ins[0][1:]) * FLOAT  # the gathered input maps
            k = _elements(n.args.kernel)  # the weights' slices, the gathers' int64 indices: not per sample
            fixed += links * k * FLOAT + (2 * links + int(n.meta.shape[0])) * 8
            continue
        if n.kind == "window_attention":  # keeps its windows (a copy), not its input
            extra += _window_attention_floats(n) * FLOAT
            continue
        padded = _padded_input(n, ins) if hasattr(n.args, "pad") else 0
        if padded:
            extra += padded * FLOAT
        elif n.kind in COPIES_PERMUTED and (permuted(n.inputs[0]) or _channels_first_norm(n)):
            extra += _elements(ins[0]) * FLOAT  # a contiguous copy of the reordered input
        else:
            kept.update(source(i) for i in n.inputs)
        extra += _extra_floats(n, ins) * FLOAT
        if n.kind in ("rnn", "gru") and getattr(n.args, "bidirectional", False) and batch == 1:
            extra -= _elements(ins[0]) * FLOAT  # the time-major copy of a batch of one is a view
        if n.kind == "batchnorm":
            fixed += 2 * n.meta.shape[0] * FLOAT  # the batch's mean and inverse deviation
    return sum(_elements(nodes[i].meta.shape) for i in kept if i in nodes) * FLOAT * batch + extra * batch + fixed


def _channels_first_norm(n: Any) -> bool:  # LayerNorm2d: permute, layer norm on the last axis, permute back
    return n.kind == "layernorm" and bool(getattr(n.args, "channels_first", False))


def _extra_floats(n: Any, ins: list[Any]) -> int:
    """What a layer keeps besides its input, in float32 elements per sample (int64 counts 2)."""
    out, k = n.meta.shape, n.kind
    size = _elements(out)
    if k in MAX_POOLS:
        return size * 2  # int64 indices
    if k == "lrn":
        return LRN_EXTRA * size
    if k == "layernorm":  # the mean and the inverse deviation of every normalised row
        axes = int(getattr(n.args, "axes", 1))
        norm = int(out[0]) if _channels_first_norm(n) else _elements(out[len(out) - axes:])
        return 2 * (size // norm)
    if k in ("subsample", "rbf"):  # the pooled sums (subsample) or the distances (RBF) before the weights
        return size
    if k == "groupnorm":  # the mean and the inverse deviation of every group
        return 2 * int(n.args.groups)
    if k == "attention":  # nn.MultiheadAttention, T tokens of width D, H heads
        t, d, h = int(out[0]), int(out[-1]), int(n.args.heads)
        if float(getattr(n.args, "dropout", 0.0)) > 0:  # the math path: q, k, v (5 TD), the weights, their
            return 6 * t * d + 3 * h * t * t          # dropped-out copy and mask, and the heads' output
        return 4 * t * d + h * t  # fused attention: q, k, v, its output and the logsumexp per head and token
    if k in RNNS:
        return _rnn_floats(n, ins)
    return 0


def _window_attention_floats(n: Any) -> int:
    """torchvision's shifted window attention on an H×W×C map, windows of w×w, the map padded to whole
    windows: nW windows of w² tokens, N = nW·w². It keeps the windowed input, q, k, v and the heads' output
    before the projection (5·N·C) and the softmax's weights (heads·nW·w⁴); with attention dropout also the
    mask and the dropped-out weights (2·heads·nW·w⁴ more)."""
    hgt, wid, c = (int(d) for d in n.meta.shape)
    w, heads = int(n.args.window), int(n.args.heads)
    windows = -(-hgt // w) * -(-wid // w)
    weights = heads * windows * w ** 4
    if float(getattr(n.args, "dropout", 0.0)) > 0:
        weights *= 3
    return 5 * windows * w * w * c + weights


def _rnn_floats(n: Any, ins: list[Any]) -> int:
    """nn.RNN / nn.GRU / nn.LSTM on the CPU, T steps of H units, a layer's input of width I. Per layer and
    direction an RNN keeps (T + 1)·H (the state before each step, and the last), a GRU 7·T·H (per step its 3
    gates' inputs and 4 states); an LSTM runs as one oneDNN call per layer and direction and keeps its
    output T·H, 4·H of states and a workspace of (15·T + 10)·H + 6·T·max(0, I - H) floats and 14 KiB a
    call (its 7 parts rounded up to pages, half a page each on average), at least 28 KiB (a fit: the true
    figure steps with the pages). Each later layer keeps its input (the previous layer's output, T·H per
    direction; a bidirectional LSTM's per-direction outputs are concatenated, a copy), and a bidirectional
    RNN or GRU a time-major copy of its batch-first input (T·I; none for a batch of one: a view). With
    cuDNN (CUDA) the figures differ: cuDNN keeps a reserve space of its own instead."""
    a = n.args
    t, feat = int(ins[0][0]), int(ins[0][-1])
    h, layers, dirs = int(a.hidden), int(getattr(a, "layers", 1)), 2 if getattr(a, "bidirectional", False) else 1
    if n.kind == "lstm":
        total = sum(4 * h + w + t * h for w in _lstm_workspaces(n, ins))
        if dirs == 1:
            return total - t * h  # the last layer's output is the layer's output, kept as such
        return total + (layers - 1) * t * h * dirs
    per = (t + 1) * h if n.kind == "rnn" else 7 * t * h
    return per * layers * dirs + (layers - 1) * t * h * dirs + (t * feat if dirs == 2 else 0)


def _lstm_workspaces(n: Any, ins: list[Any]) -> list[int]:
    """The oneDNN workspace of each layer and direction of an LSTM, floats per sample (a fit, see above)."""
    a = n.args
    t, feat = int(ins[0][0]), int(ins[0][-1])
    h, layers, dirs = int(a.hidden), int(getattr(a, "layers", 1)), 2 if getattr(a, "bidirectional", False) else 1
    return [(15 * t + 10) * h + 6 * t * max(0, (feat if layer == 0 else h * dirs) - h)
            for layer in range(layers) for _ in range(dirs)]


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
