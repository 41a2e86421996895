"""The in-process sampler's KV cache: one buffer per layer that grows in place, rows that join and leave.

Takes the keys and values a decoder layer computes (through transformers' `Cache` interface), holds them in a
buffer with `CACHE_SPARE` spare positions, so a decode step writes one column instead of copying the cache.
Rows leave the batch when their reply is done and queued prompts join it (train/sampling/sampler.py), so the
layer can select, append and left-trim rows; the buffer is right-aligned, padding on the left.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicLayer

CACHE_SPARE = 64  # extra positions allocated whenever the KV buffer grows: one copy per 64 decode steps


class BufferedLayer(DynamicLayer):
    """One layer's keys and values in a buffer with room to grow along the sequence axis.

    DynamicLayer concatenates the whole cache with the new token at every step (a full copy per step); here a
    step writes one column in place, and `keys`/`values` are views of the filled part.
    """

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        self.length = 0
        self.key_buffer = key_states.new_empty((*key_states.shape[:2], 0, key_states.shape[3]))
        self.value_buffer = value_states.new_empty((*value_states.shape[:2], 0, value_states.shape[3]))
        self.is_initialized = True

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self.key_buffer.shape[-2]:
            self.key_buffer = grown(self.key_buffer, self.length, end + CACHE_SPARE)
            self.value_buffer = grown(self.value_buffer, self.length, end + CACHE_SPARE)
        self.key_buffer[:, :, self.length : end] = key_states
        self.value_buffer[:, :, self.length : end] = value_states
        self.length = end
        self.keys, self.values = self.key_buffer[:, :, :end], self.value_buffer[:, :, :end]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length if self.is_initialized else 0

    def reset(self) -> None:
        self.length = 0
        super().reset()

    def repeat_rows(self, n: int) -> None:
        """Copy our single row `n` times (a prefix every row shares)."""
        self.key_buffer = grown(self.keys.expand(n, -1, -1, -1), self.length, self.length + CACHE_SPARE)
        self.value_buffer = grown(self.values.expand(n, -1, -1, -1), self.length, self.length + CACHE_SPARE)
        self.keys, self.values = self.key_buffer[:, :, : self.length], self.value_buffer[:, :, : self.length]

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep the rows `indices` (finished rows leave the batch)."""
        self.key_buffer, self.value_buffer = self.key_buffer[indices], self.value_buffer[indices]
        self.keys, self.values = self.key_buffer[:, :, : self.length], self.value_buffer[:, :, : self.length]

    def drop_leading(self, n: int) -> None:
        """Forget the first `n` positions (padding no remaining row attends to)."""
        self.key_buffer = self.key_buffer[:, :, n:].contiguous()
        self.value_buffer = self.value_buffer[:, :, n:].contiguous()
        self.length -= n
        self.keys, self.values = self.key_buffer[:, :, : self.length], self.value_buffer[:, :, : self.length]

    def append_rows(self, other: BufferedLayer) -> None:
        """Add `other`'s rows below ours, right-aligned: the shorter side is left-padded with zeros."""
        length = max(self.length, other.length)
        keys = torch.cat([left_padded(self.keys, length), left_padded(other.keys, length)])
        values = torch.cat([left_padded(self.values, length), left_padded(other.values, length)])
        self.key_buffer = grown(keys, length, length + CACHE_SPARE)
        self.value_buffer = grown(values, length, length + CACHE_SPARE)
        self.length = length
        self.keys, self.values = self.key_buffer[:, :, :length], self.value_buffer[:, :, :length]


def grown(buffer: torch.Tensor, filled: int, capacity: int) -> torch.Tensor:
    """A [B, H, capacity, D] buffer holding `buffer`'s first `filled` positions."""
    out = buffer.new_empty((*buffer.shape[:2], capacity, buffer.shape[3]))
    out[:, :, :filled] = buffer[:, :, :filled]
    return out


def left_padded(states: torch.Tensor, length: int) -> torch.Tensor:
    """[B, H, L, D] → [B, H, length, D] with zeros in front (masked out, so their values never count)."""
    return torch.nn.functional.pad(states, (0, 0, length - states.shape[2], 0))


def buffered_cache(model: torch.nn.Module) -> Cache:
    """An empty KV cache of `BufferedLayer`s, one per decoder layer; full attention only."""
    config = model.config.get_text_config()
    kinds = set(getattr(config, "layer_types", None) or ["full_attention"])
    if kinds != {"full_attention"}:
        raise ValueError(f"the in-process sampler supports full-attention models only, not layer types {kinds}")
    return Cache(layers=[BufferedLayer() for _ in range(config.num_hidden_layers)])
