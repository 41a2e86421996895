"""Length buckets under a padded-token budget: the one batching rule of the scorer and the trainer.

Takes each item's row widths (one per segment padded separately, e.g. a shared prefix and a continuation)
and returns item indices grouped into buckets: items sorted by length, a bucket closed when one more item
would push rows × Σ widest widths past `max_tokens` (or past `max_items`). Sorting keeps padding small.
The scorer (`pipelines/backends/transformers_backend.py`) runs bucket after bucket; the trainer
(`train/batches.py`) takes a seeded shuffle of whole buckets each epoch, so micro-batches keep their low padding.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def length_buckets(
    widths: Sequence[Sequence[int]],
    max_tokens: int = 0,
    max_items: int = 0,
    rows_per_item: int = 1,
    kinds: Sequence[Hashable] | None = None,
) -> list[list[int]]:
    """Indices of `widths` in buckets whose padded size, rows_per_item × items × Σ_segments widest, fits.

    Args:
        widths: per item, the width of each separately padded segment (tokens).
        max_tokens: padded token slots per bucket; 0 = no budget. An item over it alone gets its own bucket.
        max_items: items per bucket; 0 = no cap.
        rows_per_item: rows each item occupies (2 for the scorer's student and teacher continuations).
        kinds: items of different kinds never share a bucket (the scorer's with and without a shared prefix).
    """
    kind_of = list(kinds) if kinds is not None else [0] * len(widths)
    order = sorted(range(len(widths)), key=lambda i: (kind_of[i], sum(widths[i]), i))
    buckets: list[list[int]] = []
    current: list[int] = []
    widest: list[int] = []
    for i in order:
        grown = [max(a, b) for a, b in zip(widest, widths[i], strict=True)] if current else list(widths[i])
        if current and (
            kind_of[current[0]] != kind_of[i]
            or (max_items and len(current) + 1 > max_items)
            or (max_tokens and rows_per_item * (len(current) + 1) * sum(grown) > max_tokens)
        ):
            buckets.append(current)
            current, grown = [], list(widths[i])
        current.append(i)
        widest = grown
    if current:
        buckets.append(current)
    return buckets


def padded_slots(widths: Sequence[Sequence[int]], buckets: Sequence[Sequence[int]]) -> tuple[int, int]:
    """(padded, useful) token slots per row that `buckets` run: Σ items × widest vs Σ widths, over segments."""
    padded = sum(len(b) * sum(max(col) for col in zip(*(widths[i] for i in b), strict=True)) for b in buckets)
    return padded, sum(sum(w) for w in widths)
