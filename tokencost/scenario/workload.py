"""The load and its targets: :class:`WorkloadSpec`, :class:`SloSpec` and :class:`EfficiencySpec`."""

from __future__ import annotations

import warnings
from typing import Literal, overload

from pydantic import BaseModel, Field, model_validator

from tokencost.errors import TokenCostWarning
from tokencost.scenario.catalog import calibration
from tokencost.scenario.conversation import ConversationSpec, PrefixCacheSpec
from tokencost.scenario.fields import (
    _FROZEN,
    HIGH_EFFICIENCY_FRACTION,
    MAX_BYTES_PER_S,
    MAX_FLOP_PER_S,
    MAX_RATE_PER_S,
    MAX_SECONDS,
    MAX_USERS,
    MIN_BYTES_PER_S,
    MIN_FLOP_PER_S,
    MIN_RATE_PER_S,
    BytesPerS,
    Count,
    FlopPerS,
    Integer,
    Seconds,
)


class WorkloadSpec(BaseModel):
    """What the users ask for: tokens per request and the load, given one of three ways —
    users × requests per user per hour, a total ``requests_per_second``, or a closed loop of
    ``concurrency`` clients (each sends its next request when its previous answer ends, after
    ``think_time_s``)."""

    model_config = _FROZEN

    input_tokens: Integer = Field(..., gt=0, description="Mean prompt tokens per request.")
    output_tokens: Integer = Field(..., gt=0, description="Mean output tokens per request.")
    users: Count | None = Field(None, gt=0, le=MAX_USERS, description="Number of users.")
    requests_per_user_per_hour: float | None = Field(
        None, gt=0, le=MAX_RATE_PER_S * 3600, description="Requests per user per hour."
    )
    requests_per_second: float | None = Field(
        None, ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S, description="Total requests per second."
    )
    concurrency: Integer | None = Field(
        None,
        gt=0,
        le=10_000_000,
        description="Closed-loop load: clients, each with one request in flight at a time "
        "(vLLM benchmark_serving --max-concurrency, genai-perf --concurrency).",
    )
    think_time_s: Seconds = Field(
        0.0,
        ge=0,
        le=MAX_SECONDS,
        description="Closed loop: seconds between an answer and that client's next request.",
    )
    batch_size: Integer | None = Field(
        None,
        gt=0,
        description="Fixed decode batch (a benchmark at fixed batch); default: the load sets "
        "the batch, capped by memory and the TPOT target.",
    )
    cached_prefix_tokens: Integer = Field(
        0,
        ge=0,
        description="Tokens at the start of every prompt shared by all requests (a system prompt), "
        "part of input_tokens: with the prefix cache on, computed once and held once per replica.",
    )
    prefix_cache: PrefixCacheSpec | None = Field(
        None, description="The prefix (KV) cache; default: on when there is a cacheable prefix."
    )
    kind: Literal["single", "conversation"] = Field(
        "single",
        description="single: independent requests; conversation: tasks of several turns "
        "(the conversation section; the load fields then count tasks).",
    )
    conversation: ConversationSpec | None = Field(
        None, description="Turns of a task, tokens added per turn, tool latency, KV kept between turns."
    )

    @model_validator(mode="after")
    def _rate(self) -> WorkloadSpec:
        if self.requests_per_second is None and (self.users is None) != (
            self.requests_per_user_per_hour is None
        ):
            raise ValueError("give users together with requests_per_user_per_hour, or requests_per_second")
        ways = {
            "users × requests_per_user_per_hour": self.users is not None,
            "requests_per_second": self.requests_per_second is not None,
            "concurrency": self.concurrency is not None,
        }
        given = [name for name, present in ways.items() if present]
        if len(given) > 1:
            raise ValueError(
                f"the load is given twice: {' and '.join(given)} (give one of users × "
                "requests_per_user_per_hour, requests_per_second or concurrency)"
            )
        self._conversation_checks()
        if self.think_time_s and self.concurrency is None:
            raise ValueError("think_time_s applies to a closed loop: give concurrency too")
        rate = self.request_rate_per_s
        if rate is not None and not MIN_RATE_PER_S <= rate <= MAX_RATE_PER_S:
            raise ValueError(
                f"users × requests_per_user_per_hour / 3600 = {rate:.3g} requests/s "
                f"(allowed: {MIN_RATE_PER_S:g} to {MAX_RATE_PER_S:g})"
            )
        return self

    def _conversation_checks(self) -> None:
        if self.cached_prefix_tokens >= self.input_tokens:
            raise ValueError(
                f"cached_prefix_tokens ({self.cached_prefix_tokens}) must be less than input_tokens "
                f"({self.input_tokens}): the shared prefix is part of the prompt"
            )
        if (self.kind == "conversation") != (self.conversation is not None):
            raise ValueError("kind: conversation goes with a conversation section (turns, ...), and only it")
        if self.conversation is not None and self.concurrency is not None:
            raise ValueError("a conversation workload takes an open-loop load (tasks), not concurrency")

    @property
    def turns(self) -> int:
        """Requests per task: the conversation's turns, 1 for single requests."""
        return self.conversation.turns if self.conversation is not None else 1

    @property
    def max_context_tokens(self) -> int:
        """Tokens of the longest sequence: the last turn's prompt and its output."""
        added = self.conversation.added_tokens_per_turn if self.conversation is not None else 0
        return self.input_tokens + self.turns * self.output_tokens + (self.turns - 1) * added

    @property
    def task_rate_per_s(self) -> float | None:
        """Tasks started per second (requests for single requests), or None when none is given."""
        if self.requests_per_second is not None:
            return self.requests_per_second
        if self.users is not None and self.requests_per_user_per_hour is not None:
            return self.users * self.requests_per_user_per_hour / 3600.0
        return None

    @property
    def request_rate_per_s(self) -> float | None:
        """Total arrival rate in requests/s (open loop; a conversation's turns each count), or None."""
        tasks = self.task_rate_per_s
        return None if tasks is None else tasks * self.turns


class SloSpec(BaseModel):
    """Latency targets; both optional."""

    model_config = _FROZEN

    ttft_s: Seconds | None = Field(None, gt=0, le=MAX_SECONDS, description="Time to first token target, s.")
    tpot_s: Seconds | None = Field(None, gt=0, le=MAX_SECONDS, description="Time per output token target, s.")
    percentile: float = Field(99.0, gt=0, le=100, description="Percentile the simulator checks.")


def capped_share(fraction: float, cap: float | None, peak: float) -> float:
    """The share of ``peak`` reached at ``fraction`` of it under an absolute rate ``cap`` (none:
    the fraction): ``min(fraction, cap / peak)``."""
    return fraction if cap is None else min(fraction, float(cap) / float(peak))


def _default_efficiency(name: str) -> float:
    return float(calibration()["defaults"][name])


class EfficiencySpec(BaseModel):
    """Achieved fractions of peak. Defaults come from public measurements (calibration.yaml)."""

    model_config = _FROZEN

    compute: float = Field(
        default_factory=lambda: _default_efficiency("compute"),
        gt=0,
        le=1,
        description="Fraction of peak FLOP/s achieved (MFU), in (0, 1]; default: the median of "
        "public measurements at the compute precision (calibration.yaml).",
    )
    decode_compute: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Fraction of peak FLOP/s the decode step's matrix products reach, in (0, 1]; "
        "null: the same as compute. Decode multiplies each weight matrix by B rows (one per "
        "sequence): a skinny GEMM of 2·B FLOP per weight element whose tiles are mostly padding, "
        "far from the peak that prefill's thousands of rows reach (NVIDIA, Matrix Multiplication "
        "Background User's Guide, DU-09799-001, Feb 2023, ch. 2 'Math and memory bounds' and 3.1 "
        "'Tile quantization', https://docs.nvidia.com/deeplearning/performance/pdf/"
        "Matrix-Multiplication-Background-User-Guide.pdf).",
    )
    bandwidth: float = Field(
        default_factory=lambda: _default_efficiency("bandwidth"),
        gt=0,
        le=1,
        description="Fraction of peak memory bandwidth achieved (MBU), in (0, 1].",
    )
    interconnect: float = Field(
        default_factory=lambda: _default_efficiency("interconnect"),
        gt=0,
        le=1,
        description="Fraction of interconnect bandwidth achieved by all-reduce, in (0, 1].",
    )
    memory_reserve: float = Field(
        0.10,
        ge=0,
        lt=1,
        description="Share of memory kept free for activations and fragmentation "
        "(vLLM's default gpu_memory_utilization 0.9 leaves 0.10).",
    )
    step_overhead_s: Seconds = Field(
        0.0,
        ge=0,
        le=MAX_SECONDS,
        description="Fixed seconds per forward pass (launch overhead); 0 = pure roofline.",
    )
    sequence_overhead_s: Seconds = Field(
        0.0,
        ge=0,
        le=MAX_SECONDS,
        description="Seconds a decode step spends per sequence beyond the first (sampling, "
        "scheduling, input preparation, detokenizing): a step of B sequences pays (B - 1) times "
        "this on top of step_overhead_s (tokencost.model.sequences; vLLM v0.6.0 blog, 2024-09-05, "
        "https://blog.vllm.ai/2024/09/05/perf-update.html; ROCm/vllm MI300X decode steps, "
        "tokencost/data/MEASUREMENTS.md); 0 = none. A speculative round pays it once.",
    )

    bandwidth_cap: BytesPerS | None = Field(
        None,
        ge=MIN_BYTES_PER_S,
        le=MAX_BYTES_PER_S,
        description="Most memory bandwidth the engine reaches on one accelerator, bytes/s, whatever "
        "the datasheet: the achieved rate is min(bandwidth x peak, this). Software tuned for one "
        "class of device can reach an absolute rate rather than a share of a faster one's peak: "
        "fitted on the llama.cpp CUDA rows of the GPU-Benchmarks-on-LLM-Inference README "
        "(2024-05-12), 1.14e12 on an A100 SXM or H100 PCIe (2.0e12 datasheets) where its RTX and "
        "L40S rows reach 0.87-0.92 of theirs, 3 ms per step beside (tokencost/data/MEASUREMENTS.md, "
        "2026-12-02); "
        "null: none.",
    )
    compute_cap: FlopPerS | None = Field(
        None,
        ge=MIN_FLOP_PER_S,
        le=MAX_FLOP_PER_S,
        description="Most FLOP/s the engine's matrix products reach on one accelerator, whatever the "
        "datasheet: the achieved rate is min(compute x peak, this), prefill and decode alike "
        "(fitted: TensorRT-LLM fp8 on B200/GB200 about 3.6e15, llama.cpp prefill about 1.3e14; "
        "tokencost/data/MEASUREMENTS.md, 2026-12-02); null: none.",
    )

    @overload
    def under_cap(self, name: Literal["compute", "bandwidth"], peak: float) -> float: ...
    @overload
    def under_cap(self, name: Literal["decode_compute"], peak: float) -> float | None: ...
    def under_cap(self, name: str, peak: float) -> float | None:
        """The share of ``peak`` the field ``name`` gives under its absolute cap
        (``bandwidth_cap`` for bandwidth, ``compute_cap`` for both compute fields): the field
        itself where there is no cap, or no value (decode compute left to compute's)."""
        fraction = getattr(self, name)
        cap = self.bandwidth_cap if name == "bandwidth" else self.compute_cap
        return None if fraction is None else capped_share(fraction, cap, peak)

    @model_validator(mode="after")
    def _warn_high(self) -> EfficiencySpec:
        for name in ("compute", "decode_compute", "bandwidth", "interconnect"):
            value = getattr(self, name)
            if value is not None and HIGH_EFFICIENCY_FRACTION < value < 1.0:
                warnings.warn(
                    f"efficiency.{name} = {value} is above what is measured in practice "
                    f"({HIGH_EFFICIENCY_FRACTION}); 1.0 gives the pure roofline",
                    TokenCostWarning,
                    stacklevel=2,
                )
        return self
