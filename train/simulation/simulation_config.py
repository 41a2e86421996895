"""A simulation's settings and names: `load_simulation_config` (TrainConfig and SimulateConfig from the defaults, the
file and the flags) and the names an experiment's runs share (`experiment_id`, `pair_id`, `arm_run_id`,
`night_run_id`, `experiment_of`). `train/simulation/simulation.py` runs what these name."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace

from pipelines.config_loading import build_config, read_toml, with_flags, with_overrides
from train.config import TrainConfig
from train.simulation.simulated_users import USERS, SimulateConfig

# Trainer settings of a simulation unless the config file's [train] table sets them: sized so one arm of
# 3 rounds fits ~20 minutes on 2 CPU cores with the default 135M model (measured in README "does it learn?").
TRAIN_DEFAULTS = {
    "interactions_per_round": 32,
    "regen": {
        "max_new_tokens": 40,  # ~30 words: a reply cut here still breaks the concise user's 20-word limit
        "batch_size": 32,  # one generate() call per round's prompts (CPU throughput grows with batch)
    },
    "warmup_fraction": 0.0,
    "micro_batch_size": 4,
    "accumulation_steps": 1,  # 8 optimizer steps per round
}


def experiment_id(train: TrainConfig, sim: SimulateConfig) -> str:
    """Name shared by every arm and seed of one experiment: user + hash of every setting but arm, seed, rounds."""
    ignored = ("root", "rounds", "run_id", "tensorboard", "seed")
    settings = {k: v for k, v in train.digest_settings().items() if k not in ignored}
    # A one-night run hashes what it always did; a run of several nights also hashes their order.
    later = {"nights": (), "evaluate_every_round": True}  # settings added since: at their default, not hashed
    settings.update(
        {k: v for k, v in asdict(sim).items() if k not in ("arm", "night") and (k not in later or v != later[k])}
    )
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return f"simulate-{sim.user}-{digest}"


def pair_id(train: TrainConfig, sim: SimulateConfig) -> str:
    """Name shared by the arms of one seed of an experiment: `<experiment>-seed<N>`."""
    return f"{experiment_id(train, sim)}-seed{train.seed}"


def arm_run_id(pair: str, arm: str) -> str:
    """The training run of one arm of a pair."""
    return f"{pair}-{arm}"


def night_run_id(arm_run: str, night: int) -> str:
    """Night `night`'s training run of an arm: the arm's run itself for night 1, `<arm run>-night<k>` after."""
    return arm_run if night == 1 else f"{arm_run}-night{night}"


def experiment_of(run_id: str) -> str:
    """The experiment an arm's run belongs to (`arm_run_id` read backwards)."""
    return run_id.rsplit("-seed", 1)[0]


def load_simulation_config(
    config_file: str | None,
    root: str,
    rounds: int,
    users: tuple[str, ...] | None,
    arm: str,
    flags: dict[str, str] | None = None,
) -> tuple[TrainConfig, SimulateConfig]:
    """TrainConfig (`TRAIN_DEFAULTS`, then the file's [train] table and `--train.*` flags) and SimulateConfig
    ([simulate] table, `--simulate.*` flags, the command's own flags).

    `users`: one preference, or several trained night by night in that order (None: the [simulate] table's
    user). The instruction arm's teacher reads the instruction appended to the request (hindsight template
    `appended`); its run keeps the pair's name, which is taken before that change.
    """
    for user in users or ():
        if user not in USERS:
            raise ValueError(f"unknown simulated user {user!r}: use one of {', '.join(USERS)}")
    if rounds < 1:
        raise ValueError(f"--rounds {rounds}: run at least 1 round")
    document = read_toml(config_file)
    document = {
        "train": with_flags(document.get("train", {}), flags or {}, TrainConfig, "train"),
        "simulate": with_flags(document.get("simulate", {}), flags or {}, SimulateConfig, "simulate"),
    }
    own = {"user": users[0], "nights": list(users) if len(users) > 1 else None} if users else {}
    sim = build_config(SimulateConfig, with_overrides(document["simulate"], {**own, "arm": arm}), "[simulate]")
    given = document.get("train", {})
    train_values = {**TRAIN_DEFAULTS, **given, "root": root, "rounds": rounds}
    if isinstance(given.get("regen"), dict):  # the file's [train.regen] keys on top of the defaults'
        train_values["regen"] = {**TRAIN_DEFAULTS["regen"], **given["regen"]}
    # The held-out and unrelated prompts are the evaluation: the trainer's own split is off.
    train_values.update(mode="onpolicy", eval_fraction=0.0, eval_max_interactions=0, run_id="")
    train = TrainConfig.from_dict(train_values)
    if train.hindsight.show_earlier_reply:
        raise ValueError("hindsight.show_earlier_reply: simulation prompts have no earlier reply to show; drop it")
    pair = pair_id(train, sim)
    if sim.arm in ("instruction", "sft"):  # the teacher reads the instruction appended to the request
        train = replace(train, hindsight=replace(train.hindsight, template="appended"))
    if sim.arm == "sft":  # cross-entropy on the instruction teacher's own replies
        train = replace(train, loss="sft")
    return replace(train, run_id=arm_run_id(pair, sim.arm)), sim


# ----------------------------------------------------------------- stages
