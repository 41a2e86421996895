"""Sampling engines: replies drawn from p_θ for the on-policy rounds, the evaluation and the simulation.

`sampler.sample` picks the engine: the in-process decode loop (`sampler.sample_tokens`, its KV buffer in
`kv_cache.py`, the Llama-family decode step in `llama_decode.py`) or the vLLM worker (`vllm_sampler.py`, its
own interpreter). Both return `sampled_replies.SampledReply`s drawn with the same per-prompt seeds.
"""
