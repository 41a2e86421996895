"""The promotion gate: does a candidate model beat its parent on the new night without losing the old ones?

Pure numbers in, a decision out. Inputs are per-prompt approvals (the token-mean hindsight advantage of a fresh
reply, judged by the base model with the set's follow-up, nats/token) of the candidate and of its parent on the
same prompts with the same sampling seed, so each prompt's difference is paired. The candidate is promoted when
- **gain**: the lower end of a bootstrap interval (over prompts, `confidence` two-sided) of its mean approval
  gain on the new nights' held-out sets is above `min_gain`;
- **retention**: on no earlier night's set does its mean approval fall more than `max_retention_drop` below the
  parent's;
- **drift**: its mean per-token KL against the parent, over every set's fresh replies, is at most
  `max_drift_kl`.
Otherwise it is rejected, and the reason names every check it failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GateConfig:
    # The gain's interval must clear this, nats/token. 0 = promote only a gain the prompts show with confidence.
    min_gain: float = 0.0
    confidence: float = 0.8  # two-sided level of the gain's bootstrap interval (its lower end is one-sided 90%)
    # How far an earlier night's mean approval may fall below the parent's, nats/token. Measured on the default
    # model (README "Learning night after night", 13 prompts a set): a night that taught a preference raised its
    # set by 0.21; the next night, asking the opposite, took 0.14 of it back.
    max_retention_drop: float = 0.03
    # Mean per-token KL(candidate ‖ parent) over every set's fresh replies, nats. Measured there: one round at
    # 1e-5 (10× the default learning rate) moved 0.10–0.14; at 1e-4 (100×) 0.91.
    max_drift_kl: float = 0.25
    bootstrap_samples: int = 2000  # resamples of the prompts
    seed: int = 0  # the bootstrap's own seed (the interval is the same on every rerun)

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence < 1.0 or self.bootstrap_samples < 100:
            raise ValueError("confidence must be in (0, 1) and bootstrap_samples >= 100")
        if self.max_retention_drop < 0 or self.max_drift_kl <= 0:
            raise ValueError("max_retention_drop must be >= 0 and max_drift_kl > 0")


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    gain: float
    gain_low: float
    gain_high: float
    worst_retention_drop: float | None
    worst_retention_set: str | None
    drift_parent_kl: float


def bootstrap_interval(differences: np.ndarray, confidence: float, samples: int, seed: int) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of `differences` (resampling prompts)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(differences), size=(samples, len(differences)))
    means = differences[picks].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def decide(
    new_sets: dict[str, tuple[np.ndarray, np.ndarray]],
    earlier_sets: dict[str, tuple[float, float]],
    drift_parent_kl: float,
    cfg: GateConfig,
) -> Decision:
    """`new_sets`: set → (candidate, parent) per-prompt approvals, aligned; `earlier_sets`: set → (candidate,
    parent) mean approvals; `drift_parent_kl`: the candidate's mean per-token KL against its parent."""
    candidate = np.concatenate([pair[0] for pair in new_sets.values()])
    parent = np.concatenate([pair[1] for pair in new_sets.values()])
    if len(candidate) < 2:
        raise ValueError(f"the gate needs at least 2 held-out prompts of the new nights, got {len(candidate)}")
    differences = candidate - parent
    gain = float(differences.mean())
    low, high = bootstrap_interval(differences, cfg.confidence, cfg.bootstrap_samples, cfg.seed)
    failed = []
    if low <= cfg.min_gain:
        failed.append(
            f"gain {gain:+.4f} nats/token not shown: its {cfg.confidence:.0%} interval [{low:+.4f}, {high:+.4f}] "
            f"does not clear {cfg.min_gain:+.4f}"
        )
    drops = {name: parent_mean - candidate_mean for name, (candidate_mean, parent_mean) in earlier_sets.items()}
    worst = max(drops, key=drops.get) if drops else None
    for name, drop in sorted(drops.items()):
        if drop > cfg.max_retention_drop:
            failed.append(f"{name} approval falls {drop:.4f} nats/token (more than {cfg.max_retention_drop})")
    if drift_parent_kl > cfg.max_drift_kl:
        failed.append(f"drift {drift_parent_kl:.4f} nats/token from the parent (more than {cfg.max_drift_kl})")
    reason = (
        "; ".join(failed)
        if failed
        else (f"gain {gain:+.4f} nats/token [{low:+.4f}, {high:+.4f}], retention and drift within limits")
    )
    return Decision(
        promote=not failed,
        reason=reason,
        gain=gain,
        gain_low=low,
        gain_high=high,
        worst_retention_drop=drops[worst] if worst else None,
        worst_retention_set=worst,
        drift_parent_kl=drift_parent_kl,
    )
