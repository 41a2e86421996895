"""What this machine offers afterword: versions, device, the default model, caches, Prefect, and a root's health.

`environment_report(root)` gathers plain facts (sections of name → value) and imports nothing it does not need:
package versions come from their installed metadata (vLLM is never imported, only looked up); torch is imported
once for the device section. `print_environment` writes them as aligned text, `--json` as one JSON object.
`afterword env [--root R] [--json]` and `afterword --version` (`version_line`) call it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
from typing import TextIO

PACKAGES = ("afterword", "torch", "transformers", "duckdb", "pyarrow", "prefect", "apache-beam", "vllm")
NOT_INSTALLED = "not installed"


def package_version(name: str) -> str:
    """The installed version of a distribution, from its metadata (the package itself is not imported)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return NOT_INSTALLED


def version_line() -> str:
    """`afterword --version`: the package's version and the model libraries it runs on, one line."""
    return (
        f"afterword {package_version('afterword')} (torch {package_version('torch')}, "
        f"transformers {package_version('transformers')}, python {platform.python_version()})"
    )


def versions() -> dict[str, str]:
    return {"python": f"{platform.python_version()} ({sys.executable})"} | {
        name: package_version(name) for name in PACKAGES
    }


def device() -> dict[str, str]:
    """CUDA or CPU, and whether bf16 pays here: the CPU flags and the project's own decision (precision.py)."""
    import torch

    from pipelines.backends.precision import BF16_CPU_FLAGS, cpu_flags, fast_bf16

    facts = {}
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count()))
        facts["cuda"] = f"available: {names}"
        facts["cuda bf16"] = "yes" if torch.cuda.is_bf16_supported() else "no"
    else:
        facts["cuda"] = "not available"
    flags = cpu_flags()
    facts["cpu"] = _cpu_name() or platform.processor() or platform.machine()
    facts["cpu bf16 flags"] = (
        "unreadable (no /proc/cpuinfo)" if flags is None else ", ".join(sorted(flags & set(BF16_CPU_FLAGS))) or "none"
    )
    facts["default precision"] = (
        f"cuda {'bfloat16' if fast_bf16('cuda') else 'float32'}; " if torch.cuda.is_available() else ""
    ) + f"cpu {'bfloat16' if fast_bf16('cpu') else 'float32'}"
    facts["torch threads"] = str(torch.get_num_threads())
    return facts


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return ""
    return ""


def model_and_caches() -> dict[str, str]:
    """The built-in model's GGUF and converted copy, the Hugging Face cache, and Prefect's API setting."""
    from huggingface_hub import constants

    from pipelines.backends import DEFAULT_MODEL
    from pipelines.backends.model_files import default_model_dir, find_default_gguf

    try:
        gguf = str(find_default_gguf())
    except FileNotFoundError as error:
        gguf = f"MISSING: {error}"
    converted = default_model_dir()
    api = os.environ.get("PREFECT_API_URL")
    return {
        "default model": DEFAULT_MODEL,
        "default model gguf": gguf,
        "converted copy": f"{converted} ({'present' if converted.is_dir() else 'made on first use'})",
        "hugging face cache": constants.HF_HUB_CACHE,
        "HF_HUB_OFFLINE": "set" if constants.HF_HUB_OFFLINE else "not set",
        "PREFECT_API_URL": api if api else "not set (flows run in this process)",
    }


def root_health(root: str) -> dict[str, str]:
    """Whether `root` exists, can be written, and who holds its writer lock; creates and locks nothing."""
    from pipelines.store.lock import current_holder
    from pipelines.store.root_access import describe_root

    facts = {"root": root, **describe_root(root)}
    if "writable" in facts:  # a folder or a bucket that exists: a writer may hold its lock
        facts["lock holder"] = current_holder(root) or "none"
    return facts


def environment_report(root: str | None = None) -> dict[str, dict[str, str]]:
    """Every section of `afterword env`, in print order."""
    report = {"versions": versions(), "device": device(), "model and services": model_and_caches()}
    if root is not None:
        report["root"] = root_health(root)
    return report


def print_environment(report: dict[str, dict[str, str]], out: TextIO, as_json: bool = False) -> None:
    """Aligned `name  value` lines under each section's name, or the whole report as one JSON object."""
    if as_json:
        out.write(json.dumps(report, indent=1) + "\n")
        return
    width = max(len(name) for section in report.values() for name in section)
    for title, section in report.items():
        out.write(f"{title}\n")
        for name, value in section.items():
            out.write(f"  {name:<{width}}  {value}\n")
