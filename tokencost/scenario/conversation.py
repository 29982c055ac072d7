"""Prefix caching and conversations: :class:`PrefixCacheSpec` and :class:`ConversationSpec`,
the parts of a workload whose prompts repeat what the KV cache may already hold."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tokencost.scenario.fields import _FROZEN, MAX_SECONDS, Integer, Seconds

MAX_TURNS = 10_000


class PrefixCacheSpec(BaseModel):
    """The prefix (KV) cache: reuse the keys and values of prompt prefixes already computed (vLLM
    automatic prefix caching, SGLang RadixAttention). On by default when the workload has a
    cacheable prefix (``cached_prefix_tokens``, or a conversation that keeps its KV)."""

    model_config = _FROZEN

    enabled: bool = Field(True, description="Reuse cached prefixes; false recomputes every prompt in full.")
    hit_fraction: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Share of the cacheable prompt tokens found in the cache, for evaluate(); default 1 "
        "(a prefix once cached stays). The simulator measures its own (prefix_cache_hit_fraction).",
    )
    capacity_fraction: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Share of a replica's KV blocks the simulator's cache may keep for prefixes that no "
        "running sequence uses, evicted least recently used first (vLLM: every free block).",
    )


class ConversationSpec(BaseModel):
    """A task of several turns (a chat, or an agent calling tools): turn k's prompt is the first
    prompt (``workload.input_tokens``) plus the k − 1 earlier answers (``workload.output_tokens``
    each) and added messages; the load fields of the workload count tasks."""

    model_config = _FROZEN

    turns: Integer = Field(..., ge=1, le=MAX_TURNS, description="Turns (requests) per task.")
    added_tokens_per_turn: Integer = Field(
        0,
        ge=0,
        description="Tokens added to the context before each turn after the first (user text, "
        "tool results), tokens.",
    )
    tool_latency_s: Seconds = Field(
        0.0,
        ge=0,
        le=MAX_SECONDS,
        description="Mean seconds between an answer and the next turn of its task (a tool call, or the "
        "user); the simulator draws each from an exponential distribution with this mean.",
    )
    keep_kv: bool = Field(
        True,
        description="Keep the task's KV cache between turns, so that each turn prefills only its new "
        "tokens (while the prefix cache holds it); false: every turn recomputes its whole context.",
    )
