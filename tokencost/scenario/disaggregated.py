"""``serving.disaggregated``: prompts and answers on separate pools of replicas.

Prefill/decode disaggregation (DistServe, Zhong et al. 2024; Splitwise, Patel et al. 2024; NVIDIA
Dynamo, llm-d): a pool of prefill replicas computes each prompt and its KV cache, which is sent
over a link to a pool of decode replicas that generate the answer without prompts interrupting
them. Both pools use the scenario's hardware and parallelism::

    serving:
      disaggregated: {prefill_replicas: 2, decode_replicas: 4, kv_transfer_bandwidth: 50 GB/s}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tokencost.scenario.fields import MAX_BYTES_PER_S, MAX_SECONDS, MIN_BYTES_PER_S, BytesPerS, Seconds

MAX_POOL_REPLICAS = 100_000  # as serving.replicas


class DisaggregatedSpec(BaseModel):
    """Prefill and decode on separate pools, the prompt's KV cache sent between them."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    prefill_replicas: int | None = Field(
        None,
        gt=0,
        le=MAX_POOL_REPLICAS,
        description="Replicas that only prefill prompts; default: the fewest that carry the load "
        "and meet the TTFT target (KV transfer included).",
    )
    decode_replicas: int | None = Field(
        None,
        gt=0,
        le=MAX_POOL_REPLICAS,
        description="Replicas that only decode; default: the fewest that carry the load and meet "
        "the TPOT target.",
    )
    kv_transfer_bandwidth: BytesPerS = Field(
        ...,
        ge=MIN_BYTES_PER_S,
        le=MAX_BYTES_PER_S,
        description="Bandwidth of the link a prompt's KV cache crosses from a prefill to a decode "
        "replica, bytes/s (decimal: '50 GB/s' = 5e10 B/s; e.g. 400 Gb/s InfiniBand = '50 GB/s').",
    )
    kv_transfer_latency_s: Seconds = Field(
        0.0,
        ge=0,
        le=MAX_SECONDS,
        description="Fixed time of one KV transfer on top of bytes/bandwidth (connection set-up, "
        "completion), s; default 0: no sourced figure is built in, set one measured on your link.",
    )
