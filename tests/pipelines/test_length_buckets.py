import numpy as np

from pipelines.backends.length_buckets import length_buckets, padded_slots
from train.batches import TrainingRow, micro_batches


def test_buckets_are_length_sorted_and_fit_the_token_budget():
    widths = [(5,), (1,), (9,), (2,), (4,), (30,)]
    # sorted: 1, 2, 4, 5, 9, 30; budget 12: [1, 2, 4] (3 × 4), [5] (2 × 9 > 12), [9], [30] alone over the budget
    assert length_buckets(widths, max_tokens=12) == [[1, 3, 4], [0], [2], [5]]
    assert length_buckets(widths, max_items=4) == [[1, 3, 4, 0], [2, 5]]
    assert padded_slots(widths, [[1, 3, 4], [0], [2], [5]]) == (3 * 4 + 5 + 9 + 30, 51)


def test_segments_pad_separately_rows_multiply_and_kinds_never_mix():
    widths = [(3, 4), (0, 6), (2, 2), (3, 1)]
    # kind False first: [1]; kind True sorted by total 4, 4, 7 → items 2, 3, 0; 2 rows × 2 × (3 + 2) = 20 fits.
    buckets = length_buckets(widths, max_tokens=20, rows_per_item=2, kinds=[True, False, True, True])
    assert buckets == [[1], [2, 3], [0]]


def _row(i: int, reply: int) -> TrainingRow:
    ids = list(range(reply))
    return TrainingRow(f"i{i}", [1, 2], [1, 2, 3], ids, None, np.zeros(reply, np.float32), None, None)


def test_training_micro_batches_shuffle_whole_buckets_per_epoch_and_pad_less_than_random_rows():
    lengths = np.random.default_rng(0).integers(1, 200, 64).tolist()
    rows = [_row(i, n) for i, n in enumerate(lengths)]
    batches = micro_batches(rows, size=4, seed=0, round_index=1, epochs=2)
    first, second = batches[:16], batches[16:]
    assert len(batches) == 32 and sorted(map(tuple, first)) == sorted(map(tuple, second)) and first != second
    assert sorted(i for b in first for i in b) == list(range(64))
    widths = [(2 + n,) for n in lengths]
    random_rows = np.random.default_rng(0).permutation(64).reshape(16, 4).tolist()
    bucketed, useful = padded_slots(widths, first)
    shuffled, _ = padded_slots(widths, random_rows)
    assert bucketed < shuffled and bucketed / useful < 1.1
