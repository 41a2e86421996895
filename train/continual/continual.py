"""Learning night after night: `afterword learn` trains the promoted model on one night, evaluates the candidate
on the root's fixed evaluation suite, and a gate promotes it or keeps the incumbent.

`learn(cfg)` reads top to bottom:
1. **the parent**: the promoted model of the root's registry (`pipelines/registry.py`), or the base model;
2. **the candidate's name**: the training run of (parent, nights, settings) names it, so a rerun of the same
   night finds its own run (resumes it) and its own registry row (adds nothing once decided);
3. **the evaluation suite**: the night's held-out sets are drawn once (train/continual/eval_sets.py), before training;
4. **training**: `train.loop.main` on the nights' interactions only, from the parent's weights, with its own
   learning-rate schedule and data cursor (a new run per night; resumable like refresh);
5. **evaluation**: base, parent and candidate on every set, fresh replies with the same seed per set
   (`model_evals`, `model_eval_replies`; a model's rows are computed once and read back after);
6. **the gate** (train/continual/gate.py), then the registry row, and the pointer moved when promoted; mirrored
   in MLflow when the root is (`[registry]`, pipelines/mlflow_mirror.py).
Local roots only, as refresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tomllib
import zlib
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import mlflow_mirror, registry
from pipelines.backends.model_loading import load_model, load_tokenizer
from pipelines.config_loading import build_config, with_flags
from pipelines.io import write_table
from pipelines.mlflow_mirror import RegistryConfig
from pipelines.progress import report
from pipelines.score import ScoreRun
from pipelines.store.lock import writer_lock
from pipelines.store.publish import publish_catalog
from schemas import model_eval_replies, model_evals
from train import data, loop
from train.config import TrainConfig, night_window
from train.continual import eval_sets
from train.continual.eval_sets import EvalSuiteConfig
from train.continual.gate import Decision, GateConfig, decide
from train.evaluate import evaluate_items

log = logging.getLogger(__name__)

BASE_ID = "base"  # the base weights' name in model_evals
# Trainer settings of a learning run unless the config sets them: the suite evaluates, not the round loop.
LEARN_TRAIN_DEFAULTS = {"eval_max_interactions": 0}


@dataclass(frozen=True)
class LearnConfig:
    root: str  # storage root holding the nights, the registry and the evaluation suite
    nights: str  # "YYYY-MM-DD" (one night) or "YYYY-MM-DD..YYYY-MM-DD" (a window, trained as one)
    train: TrainConfig  # the trainer's settings ([train]); `model` is the base of the lineage
    eval: EvalSuiteConfig = field(default_factory=EvalSuiteConfig)  # the evaluation suite ([eval])
    gate: GateConfig = field(default_factory=GateConfig)  # the promotion gate ([gate])
    registry: RegistryConfig = field(default_factory=RegistryConfig)  # the MLflow mirror ([registry])

    def __post_init__(self) -> None:
        if not self.nights or night_window(self.nights) is None:
            raise ValueError("learn needs nights: YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD")
        if self.train.root != self.root or self.train.nights not in ("", self.nights):
            raise ValueError("[train] root and nights are the learning run's own: set them with --root / --night")

    @classmethod
    def from_dict(cls, values: dict) -> LearnConfig:
        """From plain data (`to_dict`, a Prefect parameter): {root, nights, train, eval, gate, registry}."""
        root, nights = values["root"], values["nights"]
        train = {**LEARN_TRAIN_DEFAULTS, **values.get("train", {}), "root": root}
        return cls(
            root=root,
            nights=nights,
            train=TrainConfig.from_dict(train),
            eval=build_config(EvalSuiteConfig, values.get("eval", {}), "[eval]"),
            gate=build_config(GateConfig, values.get("gate", {}), "[gate]"),
            registry=build_config(RegistryConfig, values.get("registry", {}), "[registry]"),
        )

    def to_dict(self) -> dict:
        return {
            "root": self.root,
            "nights": self.nights,
            "train": self.train.to_dict(),
            "eval": self.eval.__dict__.copy(),
            "gate": self.gate.__dict__.copy(),
            "registry": self.registry.__dict__.copy(),
        }


def learn(cfg: LearnConfig, after_round=None) -> dict:
    """Train, evaluate and gate one candidate on `cfg.nights`; returns its registry row and the evaluations."""
    parent = registry.promoted(cfg.root)
    base_model = parent.base_model if parent else registry.resolve_model(cfg.train.model, cfg.root)
    if parent and cfg.train.model not in (base_model, registry.PROMOTED):
        raise ValueError(f"this root's lineage starts from {base_model!r}, not [train] model {cfg.train.model!r}")
    parent_weights = parent.checkpoint_path if parent else base_model
    train_cfg = replace(cfg.train, nights=cfg.nights, model=parent_weights)
    model_id = candidate_id(train_cfg)
    decided = registry.get_model(cfg.root, model_id)
    if decided and decided.status != "candidate":
        log.info("%s was already decided (%s): nothing to add", model_id, decided.status)
        return {"model": asdict(decided), "added": False, "ledger": ledger(cfg.root, [parent_id_of(parent), model_id])}

    interactions = data.read_interactions(cfg.root, train_cfg.limit, cfg.nights)
    with writer_lock(cfg.root, "learn"):
        sets = eval_sets.ensure_suite(cfg.root, interactions, train_cfg.eval_fraction, cfg.eval)
    summary = loop.main(train_cfg, after_round=after_round)

    with writer_lock(cfg.root, "learn"):
        models = {BASE_ID: base_model, model_id: summary["checkpoint"]}
        parent_id = parent_id_of(parent)
        models[parent_id] = parent_weights
        evaluations = evaluate_all(cfg, models, [BASE_ID, parent_id, model_id], sets, parent_id, model_id)
        decision = gate_candidate(cfg, evaluations, sets, parent_id, model_id)
        nights = [str(n) for n in sorted(set(interactions["ingest_date"].to_pylist()))]
        record = candidate_record(model_id, parent, base_model, nights, summary, evaluations[model_id], decision)
        registry.register(cfg.root, record)
        if decision.promote:
            registry.promote(cfg.root, model_id, decision.reason)
        publish_catalog(cfg.root)
        mlflow_mirror.remember(cfg.root, cfg.registry)
        mlflow_mirror.sync(cfg.root)
    return {
        "model": asdict(registry.get_model(cfg.root, model_id)),
        "added": True,
        "ledger": ledger(cfg.root, [BASE_ID, parent_id, model_id]),
    }


def parent_id_of(parent) -> str:
    return parent.model_id if parent else BASE_ID


def ledger(root: str, model_ids: list[str]) -> list[dict]:
    """The `model_evals` rows of `model_ids` (plain data: what the CLI prints and the flow returns)."""
    rows = []
    for model_id in dict.fromkeys(model_ids):
        for name in eval_sets.stored_sets(root):
            if os.path.exists(evals_path(root, model_id, name)):
                rows.extend(pq.read_table(evals_path(root, model_id, name)).to_pylist())
    return rows


def candidate_id(train: TrainConfig) -> str:
    """`m-<nights>-<8 hex of the settings>`: one model per (nights, settings), whatever it started from, so a
    rerun of a learned night finds its decided model and adds nothing (a new try needs a new setting, e.g.
    `--train.seed`). The training run's id also hashes the starting weights: an interrupted run resumes."""
    ignored = ("root", "rounds", "run_id", "tensorboard", "keep_last", "model")
    settings = {k: v for k, v in train.digest_settings().items() if k not in ignored}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    return f"m-{train.nights}-{digest}"


def evaluate_all(
    cfg: LearnConfig, weights: dict[str, str], order: list[str], sets: list[str], parent_id: str, model_id: str
) -> dict[str, dict[str, pa.Table]]:
    """model → set → its `model_eval_replies` rows, computed where not yet stored. Drift is against the base and
    against each model's parent (the candidate's parent is `parent_id`; the parent's own drift rows were
    stored when it was the candidate)."""
    out: dict[str, dict[str, pa.Table]] = {}
    loaded: dict[str, object] = {}
    tokenizer = judge = None
    ordered = list(dict.fromkeys(order))
    pairs = len(ordered) * len(sets)
    for index, evaluated in enumerate(ordered):
        out[evaluated] = {}
        for done, name in enumerate(sets):
            report("evaluation suite: (model, set) pairs", index * len(sets) + done, pairs)
            stored = read_replies(cfg.root, evaluated, name)
            if stored is None:
                if tokenizer is None:
                    tokenizer = load_tokenizer(weights[BASE_ID])
                needed = {BASE_ID, evaluated} | ({parent_id} if evaluated == model_id else set())
                for missing in needed - set(loaded):
                    loaded[missing], source = load_model(weights[missing], device=cfg.train.device)
                    if missing == BASE_ID:  # the base judges every model: its revision versions the judgement
                        hindsight = replace(cfg.train.hindsight, show_earlier_reply=False)
                        judge = ScoreRun("eval", source.model_id, source.revision, 1, "regenerated", hindsight)
                versus = loaded[parent_id] if evaluated == model_id else None
                models = (loaded[evaluated], loaded[BASE_ID], versus)
                stored = evaluate_set(cfg, name, evaluated, models, tokenizer, replace(judge, run_id=f"eval-{name}"))
            out[evaluated][name] = stored
    report("evaluation suite: (model, set) pairs", pairs, pairs)
    return out


def evaluate_set(cfg: LearnConfig, name: str, model_id: str, models: tuple, tokenizer, judge: ScoreRun) -> pa.Table:
    """One model on one set: its replies (`model_eval_replies`) and its summary row (`model_evals`), stored.
    `models`: (the evaluated model, the base, its parent or None)."""
    policy, base, parent = models
    items = eval_sets.read_set(cfg.root, name)
    train = cfg.train
    if cfg.eval.max_new_tokens:
        train = replace(train, regen=replace(train.regen, max_new_tokens=cfg.eval.max_new_tokens))
    seed = cfg.eval.seed * 1_000_003 + zlib.crc32(name.encode())
    replies = evaluate_items(policy, base, parent, tokenizer, eval_sets.as_interactions(items), judge, seed, train)
    kind = items["kind"][0].as_py()
    if kind != "night":  # prompt sets have no follow-up: their approval means nothing
        replies = replies.set_column(
            replies.schema.get_field_index("approval"), "approval", pa.nulls(len(replies), pa.float64())
        )
    rows = replies.append_column("model_id", pa.array([model_id] * len(replies), pa.string()))
    rows = rows.append_column("eval_set", pa.array([name] * len(replies), pa.string()))
    write_table(
        rows.select(model_eval_replies.SCHEMA.names).cast(model_eval_replies.SCHEMA),
        replies_path(cfg.root, model_id, name),
    )
    write_table(summary_row(model_id, name, kind, replies), evals_path(cfg.root, model_id, name))
    return rows


def summary_row(model_id: str, name: str, kind: str, replies: pa.Table) -> pa.Table:
    """The `model_evals` row of one model's replies on one set (approval with a 95% bootstrap interval)."""
    approval = replies["approval"].to_numpy(zero_copy_only=False)
    has_approval = kind == "night" and len(approval) and not np.isnan(approval.astype(float)).all()
    low = high = None
    if has_approval:
        from train.continual.gate import bootstrap_interval

        low, high = bootstrap_interval(approval.astype(float), 0.95, 2000, 0)
    tokens = replies["reply_tokens"].to_numpy().astype(float)
    row = {
        "model_id": model_id,
        "eval_set": name,
        "kind": kind,
        "n": len(replies),
        "approval": float(np.mean(approval)) if has_approval else None,
        "approval_low": low,
        "approval_high": high,
        "drift_base_kl": token_weighted(replies["drift_base_kl"], tokens),
        "drift_parent_kl": token_weighted(replies["drift_parent_kl"], tokens),
        "reply_tokens": float(tokens.mean()),
        "ended_share": float(np.mean(replies["ended"].to_numpy(zero_copy_only=False))),
        "evaluated_at": datetime.now(UTC),
    }
    return pa.Table.from_pylist([row], schema=model_evals.SCHEMA)


def token_weighted(per_reply: pa.ChunkedArray, tokens: np.ndarray) -> float | None:
    """The per-token mean of per-reply means (each reply weighted by its length)."""
    values = np.asarray(per_reply.to_numpy(zero_copy_only=False), float)
    if np.isnan(values).all():
        return None
    return float((values * tokens).sum() / max(tokens.sum(), 1.0))


def gate_candidate(cfg, evaluations, sets: list[str], parent_id: str, model_id: str) -> Decision:
    """The gate's inputs from the evaluations: the new nights' sets paired per prompt, the earlier nights'
    means, the drift against the parent over every set."""
    window = night_window(cfg.nights)
    new, earlier = {}, {}
    for name in sets:
        if not name.startswith("night="):
            continue
        candidate = evaluations[model_id][name].sort_by("item_id")["approval"].to_numpy(zero_copy_only=False)
        parent = evaluations[parent_id][name].sort_by("item_id")["approval"].to_numpy(zero_copy_only=False)
        night = datetime.strptime(name.removeprefix("night="), "%Y-%m-%d").date()
        if window[0] <= night <= window[1]:
            new[name] = (candidate.astype(float), parent.astype(float))
        elif night < window[0]:
            earlier[name] = (float(np.mean(candidate)), float(np.mean(parent)))
    every = pa.concat_tables(evaluations[model_id].values())
    tokens = every["reply_tokens"].to_numpy().astype(float)
    return decide(new, earlier, token_weighted(every["drift_parent_kl"], tokens), cfg.gate)


def candidate_record(
    model_id: str, parent, base_model: str, nights: list[str], summary: dict, evaluated: dict, decision: Decision
) -> registry.ModelRecord:
    """The candidate's registry row: lineage, where its weights are, every gate figure."""
    every = pa.concat_tables(evaluated.values())
    tokens = every["reply_tokens"].to_numpy().astype(float)
    now = datetime.now(UTC)
    return registry.ModelRecord(
        model_id=model_id,
        parent_id=parent.model_id if parent else None,
        base_model=base_model,
        nights=nights,
        lineage_nights=[*(parent.lineage_nights if parent else []), *nights],
        run_id=summary["run_id"],
        checkpoint_path=os.path.abspath(summary["checkpoint"]),
        status="candidate" if decision.promote else "rejected",
        reason=decision.reason,
        gain=decision.gain,
        gain_low=decision.gain_low,
        gain_high=decision.gain_high,
        worst_retention_drop=decision.worst_retention_drop,
        worst_retention_set=decision.worst_retention_set,
        drift_base_kl=token_weighted(every["drift_base_kl"], tokens),
        drift_parent_kl=decision.drift_parent_kl,
        reply_tokens=float(tokens.mean()),
        ended_share=float(np.mean(every["ended"].to_numpy(zero_copy_only=False))),
        created_at=now,
        decided_at=now,
    )


def replies_path(root: str, model_id: str, name: str) -> str:
    return os.path.join(root, "model_eval_replies", f"model_id={model_id}", f"eval_set={name}.parquet")


def evals_path(root: str, model_id: str, name: str) -> str:
    return os.path.join(root, "model_evals", f"model_id={model_id}", f"eval_set={name}.parquet")


def read_replies(root: str, model_id: str, name: str) -> pa.Table | None:
    """A model's stored replies on a set, or None when it has not been evaluated there (its summary row is
    written last, so a stored summary means whole replies)."""
    if not os.path.exists(evals_path(root, model_id, name)):
        return None
    return pq.read_table(replies_path(root, model_id, name))


def load_learn_config(path: str | None, flags: dict[str, str] | None, root: str, nights: str) -> LearnConfig:
    """LearnConfig from a TOML file's [train], [eval], [gate] and [registry] tables, then `--train.*`, `--eval.*`,
    `--gate.*` and `--registry.*` flags; unknown keys raise."""
    document: dict = {}
    if path:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    sections = {"train": TrainConfig, "eval": EvalSuiteConfig, "gate": GateConfig, "registry": RegistryConfig}
    unknown = set(document) - set(sections)
    if unknown:
        raise ValueError(f"unknown tables {sorted(unknown)} in {path}: learn reads [train], [eval], [gate], [registry]")
    values = {"root": root, "nights": nights}
    for table, config_class in sections.items():
        values[table] = with_flags(document.get(table, {}), flags or {}, config_class, table)
    return LearnConfig.from_dict(values)


def next_night(root: str) -> str | None:
    """The oldest published night no model has been trained on yet (None: every night has one)."""
    tried = {night for model in registry.read_models(root) for night in model.nights}
    published = sorted(set(data.read_interactions(root)["ingest_date"].to_pylist()))
    return next((str(night) for night in published if str(night) not in tried), None)
