"""Data-parallel helpers for the trainer under `torchrun`: join the process group, sum gradients and step statistics.

Used by the round loop (train/loop.py, run_setup.py, steps.py) only when WORLD_SIZE > 1; a single process
never touches torch.distributed.
A manual all-reduce instead of the DistributedDataParallel wrapper: the loss calls the decoder and the LM
head separately, so DDP's hooks on the wrapped module's forward would never fire.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

from train.config import TrainConfig


def init_distributed(cfg: TrainConfig) -> tuple[int, int, str]:
    """(rank, world size, device) of this process; joins the process group when torchrun set WORLD_SIZE > 1.

    CPU ranks use gloo, CUDA ranks nccl on `cuda:LOCAL_RANK`. The long timeout covers rank 0 sampling a
    round while the others wait.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, cfg.device
    device = cfg.device
    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend, timeout=timedelta(hours=2))
    return dist.get_rank(), dist.get_world_size(), device


def sum_gradients(parameters: list[torch.nn.Parameter]) -> None:
    """All-reduce (sum) the ranks' gradients, one flat buffer per dtype; a rank without a micro-batch adds zeros.

    Each rank's loss is already divided by the step's replies on all ranks, so the sum is the gradient of
    the whole step, the same as one process accumulating every micro-batch.
    """
    for parameter in parameters:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
    for dtype in {p.grad.dtype for p in parameters}:
        grads = [p.grad for p in parameters if p.grad.dtype == dtype]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()


def sum_over_ranks(step_loss: float, step_stats: dict, device: torch.device) -> tuple[float, dict]:
    """A step's loss and token statistics summed over all ranks (what one process would have logged).

    The tensor lives on the policy's device: nccl reduces CUDA tensors only.
    """
    keys = sorted(step_stats)
    values = torch.tensor([step_loss] + [step_stats[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return float(values[0]), {k: float(v) for k, v in zip(keys, values[1:].tolist(), strict=True)}
