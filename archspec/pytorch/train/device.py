"""Where training runs: the device, mixed precision, threads, and the processes of a distributed run.

`--device auto` takes CUDA when there is a GPU, then Apple's MPS, else the CPU. On CUDA: mixed precision
(`torch.autocast` in float16 with a `GradScaler`; bfloat16 where the GPU has it, which needs no scaler),
channels-last memory format for 2D convolutions, cuDNN's autotuner, pinned host memory and
non-blocking copies. On the CPU: every core this process may use, shared between the processes of a
distributed run.

Under `torchrun` (environment variables RANK, WORLD_SIZE, LOCAL_RANK), each process joins the process
group (NCCL on CUDA, gloo on the CPU) and takes the GPU of its local rank.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch

from archspec.diagnostics import Diagnostic, SpecError


@dataclass
class Runtime:
    device: torch.device
    amp_dtype: torch.dtype | None  # autocast dtype, None for full precision
    scaler: Any  # torch.amp.GradScaler or None
    channels_last: bool
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    threads: int = 0

    @property
    def main(self) -> bool:
        """The process that prints and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def describe(self) -> str:
        what = str(self.device)
        if self.device.type == "cuda":
            what += f" ({torch.cuda.get_device_name(self.device)})"
        elif self.device.type == "cpu":
            what += f" ({self.threads} thread{'s' if self.threads != 1 else ''})"
        if self.amp_dtype is not None:
            what += f", mixed precision {str(self.amp_dtype).removeprefix('torch.')}"
        if self.distributed:
            what += f", process {self.rank + 1} of {self.world}"
        return what


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise SpecError(Diagnostic("E202", "--device cuda: this machine's PyTorch sees no CUDA GPU",
                                       hint="--device auto uses a GPU when there is one, else the CPU"))
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "mps" and not _mps_available():
        raise SpecError(Diagnostic("E202", "--device mps: Apple's Metal backend is not available here",
                                   hint="--device auto uses it when there is one, else the CPU"))
    return torch.device(name)


def setup(device: str = "auto", amp: bool | None = None, threads: int = 0, spatial_rank: int = 2) -> Runtime:
    """The runtime of this process: joins the process group under torchrun, picks the device, sets threads."""
    rank, world, local_rank = _distributed_env()
    dev = pick_device(device, local_rank)
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    n_threads = threads or max(1, cpu_cores() // max(1, local_world))
    if dev.type == "cpu":
        torch.set_num_threads(n_threads)
    amp_dtype = None
    scaler = None
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        if amp is not False:
            amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            if amp_dtype == torch.float16:
                scaler = torch.amp.GradScaler("cuda")
    elif amp:
        raise SpecError(Diagnostic("E202", f"--amp: mixed precision is for CUDA GPUs; this run is on {dev.type}"))
    if world > 1:
        _init_group(dev, rank, world)
    return Runtime(dev, amp_dtype, scaler, channels_last=dev.type == "cuda" and spatial_rank == 2, rank=rank,
                   world=world, local_rank=local_rank, threads=n_threads if dev.type == "cpu" else 0)


def _distributed_env() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def _init_group(dev: torch.device, rank: int, world: int) -> None:
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world,
                                device_id=dev if dev.type == "cuda" else None)


def teardown(rt: Runtime) -> None:
    if rt.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def all_sum(rt: Runtime, t: torch.Tensor) -> torch.Tensor:
    """The sum of `t` over the processes (itself when alone)."""
    if rt.distributed:
        import torch.distributed as dist

        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


