"""The `learn` flow: one night (or a window) learned by the promoted model, evaluated and gated
(`train.continual.continual.learn`), tracked by Prefect, with a markdown artifact of the decision.

Wiring only. The `learn` deployment in prefect.yaml runs after every completed `nightly` run of the same root
(a deployment trigger); with no `nights` it learns the oldest published night no model was trained on yet.
`run_learn(cfg)` is what `afterword learn --root R [--night D | --nights D1..D2]` calls with the LearnConfig it
built.
"""

from __future__ import annotations

from prefect import flow

from flows.runtime import artifact_key, publish_artifact, run_flow
from train.continual.continual import LearnConfig, learn, next_night


@flow(name="learn", log_prints=False)
def learn_flow(config: dict) -> dict:
    """Learn `config["nights"]` ("" = the oldest night not learned yet); `config` is `LearnConfig.to_dict()`
    or its {root, nights, train, eval, gate, registry} subset."""
    nights = config.get("nights") or next_night(config["root"])
    if nights is None:
        return {"model": None, "added": False, "ledger": []}
    result = learn(LearnConfig.from_dict({**config, "nights": nights}))
    model = result["model"]
    publish_artifact(
        artifact_key("learn", config["root"], model["model_id"]), decision_markdown(model), model["model_id"]
    )
    return result


def decision_markdown(model: dict) -> str:
    """A candidate's registry row as a small markdown table."""
    lines = [f"# learn `{model['model_id']}`: {model['status']}", "", model["reason"] or "", "", "| field | value |"]
    lines.append("|---|---|")
    for key, value in model.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        lines.append(f"| {key} | {shown} |")
    return "\n".join(lines) + "\n"


def run_learn(cfg: LearnConfig) -> dict:
    """What the CLI calls with the LearnConfig it built: the flow, tracked by Prefect when a server is set."""
    return run_flow(learn_flow, config=cfg.to_dict())
