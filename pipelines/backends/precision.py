"""Which precision pays on this machine: bfloat16 where the device's bf16 matmul is measurably faster, else float32.

Decided once per process and device type by measuring, never by assuming (DESIGN.md §8): on CUDA, bf16 where the
GPU supports it; on CPU, a short timed matmul at a decode shape of the default model (MLP up-projection over 64
rows) in float32 and in bfloat16 — bf16 is taken when it runs at least `FAST_BF16_RATIO` times faster. Measured
on the build machines: 4.98× on a 2-core AMD EPYC with avx512_bf16, 35× on a Xeon with AMX-BF16; a CPU without
bf16 instructions emulates it and runs it slower than float32. An explicit `float32` / `bfloat16` setting skips
the measurement. Read by `[train] precision`, `[train.regen] dtype` (train/config.py) and the benchmarks.
"""

from __future__ import annotations

import functools
import logging
import time

log = logging.getLogger(__name__)

PRECISIONS = ("float32", "bfloat16")
FAST_BF16_RATIO = 1.5  # below this, casts and bf16 rounding cost more than the matmuls save
PROBE_SHAPE = (1536, 576, 64)  # [out, in] weight @ [in, rows]: SmolLM2's MLP up-projection at 64 decode rows
PROBE_REPEATS = 5  # timed products per precision; the fastest counts (a burst of other load hits one, not all)


def measure_bf16_speedup() -> float:
    """fp32 seconds / bf16 seconds of the probe matmul on this CPU (best of `PROBE_REPEATS` each)."""
    import torch

    out_features, in_features, rows = PROBE_SHAPE
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(out_features, in_features, generator=generator)
    x = torch.randn(in_features, rows, generator=generator)
    seconds = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = weight.to(dtype), x.to(dtype)
        for _ in range(2):  # first calls pick and warm the kernel
            a @ b
        best = float("inf")
        for _ in range(PROBE_REPEATS):
            started = time.perf_counter()
            for _ in range(8):
                a @ b
            best = min(best, time.perf_counter() - started)
        seconds[dtype] = best
    return seconds[torch.float32] / seconds[torch.bfloat16]


@functools.cache
def fast_bf16(device_type: str) -> bool:
    """True when bfloat16 matmuls pay on this kind of device (measured once per process)."""
    import torch

    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type != "cpu":
        return False
    speedup = measure_bf16_speedup()
    log.info(
        "bfloat16 matmul runs %.2fx float32 on this CPU: %s", speedup, "bf16" if speedup >= FAST_BF16_RATIO else "fp32"
    )
    return speedup >= FAST_BF16_RATIO


def resolve_precision(setting: str, device: str) -> str:
    """`setting` itself when explicit; "" = bfloat16 where `fast_bf16` holds for `device`, else float32."""
    if setting:
        if setting not in PRECISIONS:
            raise ValueError(f"precision {setting!r}: use one of {PRECISIONS}, or '' to measure this machine")
        return setting
    return "bfloat16" if fast_bf16(device.split(":")[0]) else "float32"
