"""Which precision pays on this machine: bfloat16 where the device's bf16 matmul is measurably faster, else float32.

Decided once per process and device type from what the hardware has, never assumed (DESIGN.md §8): on CUDA, bf16
where the GPU supports it; on CPU, bf16 where the processor has bf16 matrix instructions (`amx_bf16` or
`avx512_bf16` in /proc/cpuinfo), which oneDNN uses for bf16 matmuls; without them bf16 is emulated and slower than
float32. Where the flags cannot be read, a short timed matmul decides (bf16 at least `FAST_BF16_RATIO` times
faster). The flags, not the timing, decide where they can: a run id hashes the precision, and a timing taken
during a burst of other load once read 0.39× on a machine where it reads 2.1× when quiet. Measured here
(`measure_bf16_speedup`, the benchmarks report it): 2.1–5× on a 2-core AMD EPYC with avx512_bf16, 35× on a Xeon
with AMX-BF16. An explicit `float32` / `bfloat16` setting skips all of it. Read by `[train] precision` and
`[train.regen] dtype` (train/config.py) and the benchmarks.
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
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo names of bf16 matrix / dot-product instructions
CPUINFO = "/proc/cpuinfo"


def cpu_flags() -> set[str] | None:
    """The processor's feature flags, or None where /proc/cpuinfo cannot be read (not Linux)."""
    try:
        with open(CPUINFO) as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


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
    """True when bfloat16 matmuls pay on this kind of device (decided once per process)."""
    import torch

    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type != "cpu":
        return False
    flags = cpu_flags()
    if flags is not None:
        return bool(flags & set(BF16_CPU_FLAGS))
    speedup = measure_bf16_speedup()
    log.info("bf16 matmul runs %.2fx float32 on this CPU (no cpuinfo flags to read)", speedup)
    return speedup >= FAST_BF16_RATIO


def resolve_precision(setting: str, device: str) -> str:
    """`setting` itself when explicit; "" = bfloat16 where `fast_bf16` holds for `device`, else float32."""
    if setting:
        if setting not in PRECISIONS:
            raise ValueError(f"precision {setting!r}: use one of {PRECISIONS}, or '' to decide by this machine")
        return setting
    return "bfloat16" if fast_bf16(device.split(":")[0]) else "float32"
