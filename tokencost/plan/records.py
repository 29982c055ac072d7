"""What the planner works with and answers: screened options, simulated trials, the plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tokencost.results import Evaluation
from tokencost.scenario.scenario import Scenario
from tokencost.sim.metrics import SimulationResult

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Option:
    """One screened deployment: hardware, tensor parallelism and batch cap (per replica)."""

    hardware: str
    hardware_name: str
    tensor_parallel: int
    max_batch: int
    memory_max_batch: int
    scenario: Scenario
    evaluation: Evaluation
    min_replicas: int
    usd_per_day_per_replica: float
    analytic_replicas: int = 1
    # one replica kept full at max_batch (screen: evaluate's; on a mix of lengths: plan.lengths')
    replica_requests_per_s: float | None = None
    expert_parallel: int = 1
    pipeline_parallel: int = 1
    disaggregated: bool = False  # prefill and decode pools (serving.disaggregated), sized analytically
    prefill_replicas: int | None = None  # of analytic_replicas, when disaggregated
    decode_replicas: int | None = None

    @property
    def gpus_per_replica(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel

    @property
    def label(self) -> str:
        layout = label(
            self.hardware,
            self.tensor_parallel,
            self.pipeline_parallel,
            self.expert_parallel,
            self.disaggregated,
        )
        return f"{layout} batch≤{self.max_batch}"


def label(hardware: str, tensor: int, pipeline: int = 1, expert: int = 1, disaggregated: bool = False) -> str:
    """``h100-sxm TP4 PP2 EP8 disaggregated``: hardware and the parallel degrees beyond one."""
    pipeline_text = f" PP{pipeline}" if pipeline > 1 else ""
    expert_text = f" EP{expert}" if expert > 1 else ""
    return f"{hardware} TP{tensor}{pipeline_text}{expert_text}{' disaggregated' if disaggregated else ''}"


@dataclass(frozen=True)
class Trial:
    """A simulated fleet of one option."""

    option: Option
    replicas: int
    result: SimulationResult
    prefill_replicas: int | None = None  # of replicas, when the option is disaggregated
    analytic_only: bool = False  # the simulator could not run the option as laid out: analytic verdict

    @property
    def meets_slo(self) -> bool:
        if self.analytic_only:
            return bool(self.option.evaluation.meets_slo)
        return self.result.meets_slo

    @property
    def usd_per_day(self) -> float:
        return self.replicas * self.option.usd_per_day_per_replica

    def failure(self, rate_per_s: float) -> str:
        """Why this fleet misses the SLO, with numbers."""
        if self.analytic_only:
            return "meets the SLO (analytic only)" if self.meets_slo else "misses the SLO (analytic only)"
        decoding = self.replicas - (self.prefill_replicas or 0)  # a decode pool's capacity binds
        capacity = decoding * (self.option.replica_requests_per_s or 0.0)
        parts = []
        if capacity and rate_per_s >= capacity:
            parts.append(
                f"over capacity: {rate_per_s:.4g} requests/s offered, {capacity:.4g} requests/s "
                f"analytic capacity of {decoding} replica(s)"
            )
        ttft, tpot = self.result.latency_at_percentile_s()
        pct = f"p{self.result.slo_percentile:g}"
        if self.result.slo_ttft_s is not None and not ttft <= self.result.slo_ttft_s:
            parts.append(f"{pct} TTFT {ttft:.4g} s > target {self.result.slo_ttft_s:.4g} s")
        if self.result.slo_tpot_s is not None and not tpot <= self.result.slo_tpot_s:
            parts.append(f"{pct} TPOT {tpot:.4g} s > target {self.result.slo_tpot_s:.4g} s")
        dropped = int(self.result.requests.dropped.sum())
        if dropped:
            parts.append(f"{dropped} requests dropped")
        return "; ".join(parts) or "meets the SLO"


@dataclass(frozen=True)
class Plan:
    """The cheapest deployment found, what binds it, and why the next-cheaper option fails."""

    meets_slo: bool
    replicas: int | None
    gpus_required: int | None
    hardware: str | None
    hardware_name: str | None
    tensor_parallel: int | None
    max_batch: int | None
    usd_per_day: float | None
    usd_per_million_tokens: float | None
    usd_per_million_output_tokens: float | None
    request_rate_per_s: float
    binding_constraint: str | None
    reason: str
    next_cheaper: dict[str, Any] | None
    simulated: dict[str, Any] | None
    rejected: tuple[dict[str, Any], ...] = field(default=())
    scenario: Scenario | None = field(default=None, compare=False, repr=False)
    expert_parallel: int | None = None  # expert-parallel ranks of the plan (1: experts split by TP)
    pipeline_parallel: int | None = None  # pipeline stages per replica (gpus_required = replicas × TP × PP)
    disaggregated: bool = False  # prefill and decode on separate pools (replicas = prefill + decode)
    prefill_replicas: int | None = None
    decode_replicas: int | None = None
    confirmed_by: str | None = None  # "simulation", or "analytic only" where the simulator cannot run it
    options: tuple[dict[str, Any], ...] = field(default=())  # every option tried, cheapest first
    # mixed fleets (tokencost.plan.mixed): pools by prompt length, the single-type plan compared
    mixed: bool = False
    pools: tuple[dict[str, Any], ...] = field(default=())
    single_type: dict[str, Any] | None = None
    mixed_reason: str | None = None
    # per prompt-length bucket: its lengths, rate and each hardware's cheapest $ per million output
    # tokens (tokencost.plan.mixed.bucket_costs); empty unless plan_mixed made the plan
    buckets: tuple[dict[str, Any], ...] = field(default=())

    @property
    def _expert_label(self) -> str:
        return f" EP{self.expert_parallel}" if self.expert_parallel and self.expert_parallel > 1 else ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plan (contract keys: replicas, gpus_required, hardware, tensor_parallel,
        max_batch, usd_per_day, meets_slo)."""
        return {
            "meets_slo": self.meets_slo,
            "replicas": self.replicas,
            "gpus_required": self.gpus_required,
            "hardware": self.hardware,
            "hardware_name": self.hardware_name,
            "tensor_parallel": self.tensor_parallel,
            "expert_parallel": self.expert_parallel,
            "max_batch": self.max_batch,
            "usd_per_day": self.usd_per_day,
            "usd_per_million_tokens": self.usd_per_million_tokens,
            "usd_per_million_output_tokens": self.usd_per_million_output_tokens,
            "request_rate_per_s": self.request_rate_per_s,
            "binding_constraint": self.binding_constraint,
            "reason": self.reason,
            "next_cheaper": self.next_cheaper,
            "simulated": self.simulated,
            "rejected": list(self.rejected),
            "pipeline_parallel": self.pipeline_parallel,
            "disaggregated": self.disaggregated,
            "prefill_replicas": self.prefill_replicas,
            "decode_replicas": self.decode_replicas,
            "confirmed_by": self.confirmed_by,
            "options": list(self.options),
            "mixed": self.mixed,
            "pools": list(self.pools),
            "single_type": self.single_type,
            "buckets": list(self.buckets),
            "mixed_reason": self.mixed_reason,
        }

    def to_frame(self, options: bool = False) -> Any:
        """One-row pandas DataFrame of :meth:`to_dict`, nested parts flattened (``simulated.slo.ttft_s``,
        ``next_cheaper.replicas``); integer columns stay integers (``Int64`` where missing).
        ``options=True``: one row per option tried instead (``options`` of :meth:`to_dict`: rejected,
        screened and simulated, cheapest first, each with its stage, cost and why it fails)."""
        from tokencost.results import flatten, frame

        if options:
            rows = [flatten(row) for row in self.options]
            return frame(rows, frozenset(key for row in rows for key in row if key in PLAN_INTEGER_FIELDS))
        flat = {key: value for key, value in flatten(self.to_dict()).items() if key != "options"}
        integers = frozenset(
            key
            for key in flat
            if key.rsplit(".", 1)[-1] in PLAN_INTEGER_FIELDS or key.startswith("simulated.requests_")
        )
        return frame([flat], integers)

    def _repr_html_(self) -> str:
        """A small table for notebooks: the deployment, its cost and what binds it."""
        from tokencost.results import html_table

        if self.replicas is None:
            rows = [("meets SLO", "no"), ("reason", self.reason)]
        else:
            rows = [
                (
                    "deployment",
                    f"{self.replicas} × {self.hardware} TP{self.tensor_parallel}{self._expert_label}",
                ),
                ("accelerators", f"{self.gpus_required}"),
                ("batch cap per replica", f"{self.max_batch}"),
                ("load (requests/s)", f"{self.request_rate_per_s:.4g}"),
                ("$ per day", f"{self.usd_per_day:.4g}" if self.usd_per_day is not None else "—"),
                ("$ per million output tokens", f"{self.usd_per_million_output_tokens or 0:.4g}"),
                ("meets SLO", "yes" if self.meets_slo else "no"),
                ("binding constraint", f"{self.binding_constraint}: {self.reason}"),
            ]
        return html_table("plan", rows)


PLAN_INTEGER_FIELDS = frozenset(
    {
        "replicas",
        "gpus_required",
        "tensor_parallel",
        "expert_parallel",
        "pipeline_parallel",
        "max_batch",
        "preemptions",
        "rank",
        "gpus_per_replica",
        "prefill_replicas",
        "decode_replicas",
    }
)


# variants ------------------------------------------------------------------------------------
