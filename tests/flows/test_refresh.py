import pyarrow.parquet as pq
import pytest

from flows.refresh import round_markdown, run_refresh
from tests.helpers.training import write_interactions, write_tiny_model
from train.config import load_train_config


def test_round_markdown_lists_the_row():
    text = round_markdown({"run_id": "r", "round": 1, "loss": 0.123456, "checkpoint_path": "/c"})
    assert (
        text.startswith("# refresh `r` round 1") and "| loss | 0.1235 |" in text and "| checkpoint_path | /c |" in text
    )


@pytest.mark.slow
def test_refresh_flow_runs_two_rounds_and_resumes(tmp_path, prefect_harness):
    model_dir = write_tiny_model(tmp_path / "tiny-model")
    root = tmp_path / "root"
    write_interactions(root, 10)
    config = tmp_path / "refresh.toml"
    config.write_text(
        f'[train]\nmodel = "{model_dir}"\ninteractions_per_round = 4\nmicro_batch_size = 2\n'
        "accumulation_steps = 1\neval_max_interactions = 1\neval_fraction = 0.2\n"
        "tensorboard = false\n[train.regen]\nmax_new_tokens = 4\n[train.hindsight]\nmax_reply_tokens = 16\n"
    )
    settings = {"root": str(root), "mode": "onpolicy", "limit": 8}
    first = run_refresh(load_train_config(str(config), rounds=1, **settings))
    second = run_refresh(load_train_config(str(config), rounds=2, **settings))
    assert first["run_id"] == second["run_id"]
    assert [r["round"] for r in first["rounds"]] == [1] and [r["round"] for r in second["rounds"]] == [2]
    rows = pq.read_table(root / "training_rounds" / f"run_id={first['run_id']}")
    assert sorted(rows["round"].to_pylist()) == [1, 2]
