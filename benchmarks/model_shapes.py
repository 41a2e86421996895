"""The model shapes the scoring and training benchmarks build at random init (`score_bench.py`, `train_bench.py`).

Real Qwen3 shapes for the device runs and two tiny ones for `--tiny` on CPU; one definition, so both benchmarks
time the same models. Plain dicts of `Qwen3Config` fields: importing this pulls in nothing.
"""

# Real Qwen3 shapes (config.json of Qwen/Qwen3-0.6B and Qwen/Qwen3-4B); both tie input and output embeddings.
QWEN3_VOCAB = 151936
SHAPES: dict[str, dict[str, int]] = {
    "qwen3-0.6b": dict(
        hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8, head_dim=128,
        intermediate_size=3072,
    ),
    "qwen3-4b": dict(
        hidden_size=2560, num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
        intermediate_size=9728,
    ),
}  # fmt: skip
# --tiny: the same code path on CPU in seconds (float32, so ours vs naive must agree to ~1e-5).
TINY_VOCAB = 4096
TINY_SHAPES: dict[str, dict[str, int]] = {
    "tiny-a": dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        intermediate_size=128,
    ),
    "tiny-b": dict(
        hidden_size=96, num_hidden_layers=3, num_attention_heads=6, num_key_value_heads=2, head_dim=16,
        intermediate_size=192,
    ),
}  # fmt: skip
