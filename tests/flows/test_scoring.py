import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from flows.config import RunConfig
from flows.scoring import score_night_shard
from pipelines.backends.scoring_config import ScoringConfig
from pipelines.hindsight import HindsightConfig
from pipelines.store import layout as storage
from pipelines.store.query import open_catalog
from schemas import scores as scores_schema
from tests.conftest import NIGHT, shared_file, wildchat_record
from tests.helpers.scoring import (
    NIGHT_DATE,
    need_smollm2,
    store_interactions,
)


def read_run(root, run_id):
    files = sorted((root / "scores" / f"run_id={run_id}" / "round=0000").glob("scores-*.parquet"))
    table = pa.concat_tables(pq.read_table(f) for f in files)
    return table.sort_by("interaction_id"), files


@pytest.mark.slow
def test_killed_scoring_run_resumes_to_the_same_rows_as_a_straight_run(tmp_path, tiny_model_dir):
    records = [wildchat_record(i) for i in range(12)]
    cfg = ScoringConfig(
        str(tiny_model_dir), shards=4, hindsight=HindsightConfig(max_context_tokens=256, max_reply_tokens=64)
    )
    straight_root, resumed_root = tmp_path / "straight", tmp_path / "resumed"
    for root in (straight_root, resumed_root):
        store_interactions(root, records)
    straight = [score_night_shard(str(straight_root), NIGHT_DATE, shard, cfg) for shard in range(4)]
    run_id = straight[0]["run_id"]

    # The killed run finished shards 0 and 1, and died while writing shard 2 (a temp file is left).
    done = [score_night_shard(str(resumed_root), NIGHT_DATE, shard, cfg) for shard in (0, 1)]
    leftover = resumed_root / "scores" / f"run_id={run_id}" / "round=0000" / ".scores-00002-of-00004.parquet.x.tmp"
    leftover.write_bytes(b"half a file")
    finished_at = {d["shard"]: (resumed_root / d["path"]).stat().st_mtime_ns for d in done}
    resumed = [score_night_shard(str(resumed_root), NIGHT_DATE, shard, cfg) for shard in range(4)]

    assert [r["skipped"] for r in resumed] == [True, True, False, False]
    assert all((resumed_root / d["path"]).stat().st_mtime_ns == finished_at[d["shard"]] for d in done)
    straight_rows, _ = read_run(straight_root, run_id)
    resumed_rows, files = read_run(resumed_root, run_id)
    assert [f.name for f in files] == [f"scores-0000{i}-of-00004.parquet" for i in range(4)]
    assert resumed_rows.equals(straight_rows)
    assert resumed_rows.num_rows == 12 and resumed_rows.schema.equals(scores_schema.SCHEMA)
    assert len(set(resumed_rows["interaction_id"].to_pylist())) == 12


def test_run_id_changes_with_settings_that_change_the_rows(tmp_path, tiny_model_dir):
    store_interactions(tmp_path, [wildchat_record(1)])
    paper = score_night_shard(str(tmp_path), NIGHT_DATE, 0, ScoringConfig(model=str(tiny_model_dir)))
    online = score_night_shard(
        str(tmp_path),
        NIGHT_DATE,
        0,
        ScoringConfig(model=str(tiny_model_dir), hindsight=HindsightConfig(template="online")),
    )
    again = score_night_shard(str(tmp_path), NIGHT_DATE, 0, ScoringConfig(model=str(tiny_model_dir)))
    assert paper["run_id"] != online["run_id"]
    assert again == {**paper, "skipped": True}
    assert paper["path"] == storage.score_shard_path(str(tmp_path), paper["run_id"], 0, 0, 1)


@pytest.mark.slow
def test_nightly_scores_the_real_sample_and_token_advantages_reproduce(tmp_path, prefect_harness):
    """End to end with the default model; an independent plain-transformers computation agrees to 1e-4."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from flows.nightly import nightly
    from pipelines.backends.model_loading import resolve_model

    need_smollm2()
    path = shared_file("wildchat_real_small.jsonl")
    root = str(tmp_path / "root")
    config = {"score": {"max_interactions": 4}}
    summary = nightly(inputs=[str(path)], root=root, night=NIGHT, config=config, score=True)
    assert summary["interactions"] == 83 and summary["scored_replies"] == 4

    with open_catalog(root) as con:
        replies = con.sql(
            "select interaction_id, context, response, followup from interactions "
            "where interaction_id in (select interaction_id from scores)"
        ).fetchall()
        tokens = con.sql(
            "select interaction_id, list(token_id order by position), list(student_logprob order by position), "
            "list(teacher_logprob order by position), list(advantage order by position) "
            "from token_advantages group by interaction_id"
        ).fetchall()
    assert len(replies) == len(tokens) == 4

    source = resolve_model("smollm2-135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(source.path)
    model = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch.float32).eval()
    by_id = {row[0]: row[1:] for row in tokens}
    hindsight = "\n\nThe following is a future user message. Use this to guide your answer to the user prompt: "
    for interaction_id, context, response, followup in replies:
        token_ids, student, teacher, advantage = by_id[interaction_id]
        assert tokenizer.decode(token_ids) == response + "<|im_end|>"
        teacher_context = [dict(m) for m in context]
        teacher_context[-1]["content"] += hindsight + followup.strip()
        for messages, stored in ((context, student), (teacher_context, teacher)):
            prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([prompt_ids + list(token_ids)])
            with torch.no_grad():
                logp = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
            positions = torch.arange(len(prompt_ids) - 1, ids.shape[1] - 1)
            expected = logp[positions, ids[0, len(prompt_ids) :]].numpy()
            np.testing.assert_allclose(np.array(stored), expected, atol=1e-4, rtol=0)
        np.testing.assert_allclose(np.array(advantage), np.array(teacher) - np.array(student), atol=1e-6)
    assert json.loads(json.dumps(summary))["scoring_run"] == summary["scoring_run"]


def test_bad_chat_template_kwargs_fail_before_the_model_loads_and_write_nothing(tmp_path, tiny_model_dir):
    store_interactions(tmp_path, [wildchat_record(1)])
    hindsight = {"chat_template_kwargs": {"thinking": False}}
    cfg = RunConfig.from_dict({"score": {"model": str(tiny_model_dir), "hindsight": hindsight}})
    with pytest.raises(ValueError, match="chat_template_kwargs"):
        score_night_shard(str(tmp_path), NIGHT_DATE, 0, cfg.score)
    assert not (tmp_path / "scores").exists()
    with pytest.raises(ValueError, match="chat_template_kwargs"):
        RunConfig.from_dict({"score": {"hindsight": {"chat_template_kwargs": {"enable_thinking": [False]}}}})
    cfg = RunConfig.from_dict({"score": {"hindsight": {"truncation": "equal_cut"}}})
    assert cfg.score.hindsight.truncation == "equal_cut"
    with pytest.raises(ValueError, match=r"\[score\] truncation has moved: set it as \[score.hindsight\] truncation"):
        RunConfig.from_dict({"score": {"truncation": "equal_cut"}})
