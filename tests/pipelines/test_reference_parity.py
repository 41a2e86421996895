"""Parity with the published user-interactions code, on every real sample in ../shared/data.

The oracle below re-states, from the published behaviour, the reference's WildChat preprocessing
(`auxiliary/preprocess_wildchat.py`: strip every message, drop empty ones and unknown roles, English,
>= 3 messages, <= 100,000 characters, no message over 4,096, one interaction per assistant message
followed by a user message, history = last 5 messages starting with a user message, roles alternating,
ending with a user message) and its offline trainer's prompt rules (`offline_sdpo_trainer.py`: chat
template with `enable_thinking=False` and a generation prompt, the `offline` hindsight block appended
to the last user message, reply = y.rstrip() + EOS tokenized on its own, contexts left-truncated at
2,048 tokens each, replies right-truncated at 2,048). afterword's own ingest, segment, select and
`build_sequences` must produce the same interactions, prompt texts and token ids.

The oracle reads messages from afterword's `conversations` table (roles already mapped from each
source format) and takes the language from it (source metadata, else detected: the reference reads
WildChat's metadata, which two thirds of these records lost upstream).
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipelines.hindsight import HindsightConfig, add_hindsight, build_sequences, render_text
from tests.conftest import shared_file
from tests.helpers.real_samples import ingest_file, select_file
from tests.helpers.scoring import need_smollm2, smollm2_cache_dir

pytestmark = pytest.mark.slow

REAL_FILES = ("wildchat_real_small.jsonl", "wildchat_real.jsonl", "sharegpt_real.jsonl")
MAX_TOKENS = 2048  # the offline trainer's context (tokenizer max_length) and completion limits


def reference_interactions(conversation: dict) -> list[tuple[str, list[dict], str, str]]:
    """(interaction id, x, y, o) by the published preprocessing rules; ids use the logged message index."""
    if conversation["language"] != "English":
        return []
    kept = []
    for index, message in enumerate(conversation["messages"]):
        text = message["content"].strip()
        if message["role"] in ("user", "assistant") and text:
            kept.append((index, message["role"], text))
    if len(kept) < 3 or sum(len(t) for _, _, t in kept) > 100_000 or any(len(t) > 4096 for _, _, t in kept):
        return []
    out = []
    for i in range(len(kept) - 1):
        (index, role, reply), (_, next_role, followup) = kept[i], kept[i + 1]
        if role != "assistant" or next_role != "user":
            continue
        window = kept[:i][-5:]
        while window and window[0][1] != "user":
            window = window[1:]
        history: list[dict] = []
        for _, r, t in window:
            if not history or history[-1]["role"] != r:
                history.append({"role": r, "content": t})
        if history and history[-1]["role"] == "user":
            out.append((f"{conversation['conversation_id']}:{index}", history, reply, followup))
    return out


def reference_prompts(tokenizer, x: list[dict], y: str, o: str) -> tuple[str, str, list[int], list[int], list[int]]:
    """Prompt texts and token ids as the offline trainer's collator and log-prob function build them."""

    def render(messages):
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
        )

    conditional = [dict(m) for m in x]
    conditional[-1]["content"] += (
        "\n\n[HINDSIGHT CONTEXT]\nThe following is a user response to your previous, insufficient attempt. "
        f"Improve your response to the user prompt.\nFuture User Message: {o.strip()}"
    )
    x_text, xo_text = render(x), render(conditional)

    def left_truncated(text):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids[-MAX_TOKENS:]

    completion = tokenizer(y.rstrip() + tokenizer.eos_token, add_special_tokens=False)["input_ids"][:MAX_TOKENS]
    return x_text, xo_text, left_truncated(x_text), left_truncated(xo_text), completion


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    need_smollm2()
    from pipelines.backends.model_loading import load_tokenizer

    return load_tokenizer("smollm2-135m-instruct", cache_dir=smollm2_cache_dir(tmp_path_factory))


@pytest.mark.parametrize("name", REAL_FILES)
def test_same_interactions_prompt_texts_and_scored_ids_as_the_reference(con, tokenizer, name):
    path = shared_file(name)
    ((_, staged),) = ingest_file(path)
    expected = sorted(i for c in staged.conversations.to_pylist() for i in reference_interactions(c))
    selected = pa.concat_tables(select_file(con, path).interactions)
    got = sorted(
        (r["interaction_id"], r["context"], r["response"], r["followup"])
        for r in selected.select(["interaction_id", "context", "response", "followup"]).to_pylist()
    )
    assert len(got) > 60
    assert got == expected

    cfg = HindsightConfig(template="offline")
    for _, x, y, o in got:
        x_text, xo_text, x_ids, xo_ids, reply_ids = reference_prompts(tokenizer, x, y, o)
        assert render_text(tokenizer, x, True, cfg.chat_template_kwargs) == x_text
        assert render_text(tokenizer, add_hindsight(x, o, "offline"), True, cfg.chat_template_kwargs) == xo_text
        seq = build_sequences(x, y, o, tokenizer, cfg)
        assert (seq.student_prefix_ids, seq.teacher_prefix_ids, seq.reply_ids) == (x_ids, xo_ids, reply_ids)


def test_a_student_context_that_fits_is_kept_whole(con, tokenizer):
    # wildchat_real.jsonl, conversation 7912b507…, reply at message 7: x fits in 2,048 tokens, x ⊕ o does not.
    path = shared_file("wildchat_real.jsonl")
    rows = pa.concat_tables(select_file(con, path).interactions).to_pylist()
    (row,) = [r for r in rows if r["interaction_id"] == "7912b50700d72aebe9113988f08ddc0d:7"]
    args = (row["context"], row["response"], row["followup"], tokenizer)
    seq = build_sequences(*args, HindsightConfig())
    whole = build_sequences(*args, HindsightConfig(max_context_tokens=100_000))
    assert len(seq.student_prefix_ids) == len(whole.student_prefix_ids) == 2037
    assert seq.student_prefix_ids == whole.student_prefix_ids
    assert len(seq.teacher_prefix_ids) == 2048 < len(whole.teacher_prefix_ids)
    assert (seq.student_context_truncated, seq.teacher_context_truncated) == (False, True)
    # The equal cut (an option) drops the same count from the student: the case this default avoids.
    equal = build_sequences(*args, HindsightConfig(truncation="equal_cut"))
    assert len(equal.student_prefix_ids) == 2037 - (len(whole.teacher_prefix_ids) - 2048)
