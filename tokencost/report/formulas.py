"""The run page's working: each formula with the scenario's numbers substituted."""

from __future__ import annotations

from html import escape

from tokencost.model import cost, serving
from tokencost.model import flops as fl
from tokencost.report import format as fmt
from tokencost.results import Evaluation
from tokencost.scenario.scenario import Scenario


def _decode_kv_bytes(ev: Evaluation, dep: serving.Deployment) -> tuple[float, float]:
    """(weight bytes read, KV bytes) of one decode step of a micro-batch at the mean context."""
    micro = float(ev.batch_size or 1) / dep.pipeline
    weights = float(serving.weight_bytes_read(dep, micro))
    return weights, float(ev.decode.bytes_per_step or 0.0) - weights


# ----------------------------------------------------------------------------- working


def _plain(value: float) -> str:
    """Short form of a fraction or small number: 0.69, 0.9, 1."""
    return f"{value:.4g}"


def _formula(what: str, general: str, numbers: str, result: str) -> str:
    return (
        f'<div class="formula"><div class="what">{escape(what)}</div>'
        f'<div class="general">{escape(general)}</div>'
        f'<div class="numbers">{escape(numbers)} = <b>{escape(result)}</b></div></div>'
    )


def _working_section(scenario: Scenario, ev: Evaluation, dep: serving.Deployment) -> str:
    items = [*_prefill_formulas(scenario, dep), _fit_formula(scenario, dep)]
    if ev.feasible:
        items += _decode_formulas(ev, dep) + _money_formulas(ev, dep)
    caption = (
        "The main formulas with this scenario's numbers put in, so every headline number can be checked "
        "by hand. N_lin counts the weights used in matrix products (the input embedding is a look-up), a "
        "is the attention FLOP per (query, key) pair, Π peak FLOP/s, β memory bandwidth, η the achieved "
        "fractions, t the tensor-parallel degree. A multiply-add counts as 2 FLOP."
    )
    return (
        f'<h2>Show your working</h2><p class="caption">{escape(caption)}</p>'
        f'<div class="formulas">{"".join(items)}</div>'
    )


def _prefill_formulas(scenario: Scenario, dep: serving.Deployment) -> list[str]:
    prompt = float(scenario.workload.input_tokens)
    pre = serving.prefill(dep, prompt)
    body = dep.linear_params - dep.lm_head_params
    pairs = float(fl.causal_key_count(prompt))
    weights = float(serving.weight_bytes_read(dep, prompt))
    t = int(dep.tensor)
    extra = f" + {fmt.seconds(dep.step_overhead_s)} overhead" if dep.step_overhead_s else ""
    return [
        _formula(
            "Prefill FLOP (one prompt of P tokens)",
            "F ≈ 2·N·P + attention = 2·(N_lin − d·V)·P + 2·d·V + a·P·(P+1)/2",
            f"2 × {fmt.sci(body)} × {fmt.count(prompt)} + 2 × {fmt.sci(dep.lm_head_params)} + "
            f"{fmt.sci(dep.attention_flops_per_key)} × {fmt.sci(pairs)}",
            fmt.si(float(pre.flops), "FLOP"),
        ),
        _formula(
            "Prefill bytes moved",
            "M = weights read + P · KV bytes per token",
            f"{fmt.si(weights, 'B')} + {fmt.count(prompt)} × {fmt.si(dep.kv_bytes_per_token, 'B')}",
            fmt.si(float(pre.bytes), "B"),
        ),
        _formula(
            "Time to first token",
            "TTFT = max(F / (Π·η_c·t), M / (β·η_m·t)) + communication",
            f"max({fmt.si(float(pre.flops), 'FLOP')} / ({fmt.si(dep.peak_flop_per_s, 'FLOP/s')} × "
            f"{_plain(dep.compute_efficiency)} × {t}), {fmt.si(float(pre.bytes), 'B')} / "
            f"({fmt.si(dep.bandwidth_bytes_per_s, 'B/s')} × {_plain(dep.bandwidth_efficiency)} × {t})) + "
            f"{fmt.seconds(float(pre.comm_s))}{extra} = max({fmt.seconds(float(pre.compute_s))}, "
            f"{fmt.seconds(float(pre.memory_s))}) + {fmt.seconds(float(pre.comm_s))}{extra}",
            fmt.seconds(float(pre.time_s)),
        ),
    ]


def _fit_formula(scenario: Scenario, dep: serving.Deployment) -> str:
    context = scenario.workload.input_tokens + scenario.workload.output_tokens
    memory = serving.replica_memory_bytes(dep)
    fits = int(serving.max_batch(dep, context))
    return _formula(
        "Sequences that fit in memory (max batch)",
        "B_max = floor((memory · (1 − reserve) − weights) / (KV bytes per token · (P + O)))",
        f"floor(({fmt.si(memory, 'B')} × {_plain(1 - dep.memory_reserve_fraction)} − "
        f"{fmt.si(dep.weight_bytes, 'B')}) / ({fmt.si(dep.kv_bytes_per_token, 'B')} × {fmt.count(context)}))",
        fmt.count(fits),
    )


def _decode_formulas(ev: Evaluation, dep: serving.Deployment) -> list[str]:
    decode = ev.decode
    micro = float(ev.batch_size or 1) / dep.pipeline
    weights, kv = _decode_kv_bytes(ev, dep)
    context = float(decode.context_tokens or 0.0)
    step_flops = float(decode.flops_per_token or 0.0) * micro
    t = int(dep.tensor)
    batch_word = "B" if dep.pipeline == 1 else "B/p (one micro-batch)"
    return [
        _formula(
            f"Decode bytes per step ({batch_word} sequences at the mean context c)",
            "M_step = weights + B · (c + 1) · KV bytes per token",
            f"{fmt.si(weights, 'B')} + {fmt.number(micro)} × ({fmt.number(context)} + 1) × "
            f"{fmt.si(dep.kv_bytes_per_token, 'B')} = {fmt.si(weights, 'B')} + {fmt.si(kv, 'B')}",
            fmt.si(decode.bytes_per_step, "B"),
        ),
        _formula(
            "Decode FLOP per step",
            "F_step = B · (2·N_lin + a·(c + 1))",
            f"{fmt.number(micro)} × (2 × {fmt.sci(dep.linear_params)} + "
            f"{fmt.sci(dep.attention_flops_per_key)} × "
            f"({fmt.number(context)} + 1))",
            fmt.si(step_flops, "FLOP"),
        ),
        _formula(
            "Time per output token (mean over the O − 1 decode steps)",
            "TPOT ≈ max(F_step / (Π·η_c·t), M_step / (β·η_m·t)) + communication",
            f"max({fmt.si(step_flops, 'FLOP')} / ({fmt.si(dep.peak_flop_per_s, 'FLOP/s')} × "
            f"{_plain(dep.compute_efficiency)} × {t}), {fmt.si(decode.bytes_per_step, 'B')} / "
            f"({fmt.si(dep.bandwidth_bytes_per_s, 'B/s')} × {_plain(dep.bandwidth_efficiency)} × {t})) + "
            f"{fmt.seconds(decode.comm_time_s)} = max({fmt.seconds(decode.compute_time_s)}, "
            f"{fmt.seconds(decode.memory_time_s)}) + {fmt.seconds(decode.comm_time_s)}",
            fmt.seconds(ev.tpot_s),
        ),
    ]


def _money_formulas(ev: Evaluation, dep: serving.Deployment) -> list[str]:
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    batch = float(ev.batch_size or 1)
    decode_total = float(ev.decode.total_time_s or 0.0)
    n = int(dep.accelerators)
    return [
        _formula(
            "Replica price per second",
            "$/s = accelerators × $/accelerator-hour / 3600",
            f"{n} × {fmt.usd(dep.usd_per_hour)} / 3600",
            f"${fmt.sig(usd_s)}",
        ),
        _formula(
            "$ per million input tokens",
            "$/M = seconds × $/s / tokens × 1e6, with seconds = TTFT",
            f"{fmt.seconds(ev.ttft_s)} × ${fmt.sig(usd_s)} / {fmt.count(ev.input_tokens)} × 1e6",
            fmt.usd(ev.usd_per_million_input_tokens),
        ),
        _formula(
            "$ per million output tokens",
            "$/M = seconds × $/s / tokens × 1e6, with seconds = D / B (decode shared by B sequences)",
            f"({fmt.seconds(decode_total)} / {fmt.count(batch)}) × ${fmt.sig(usd_s)} / "
            f"{fmt.count(ev.output_tokens)} × 1e6",
            fmt.usd(ev.usd_per_million_output_tokens),
        ),
        _formula(
            "Requests one replica serves per second",
            "μ = 1 / (TTFT + D / B)",
            f"1 / ({fmt.seconds(ev.ttft_s)} + {fmt.seconds(decode_total)} / {fmt.count(batch)})",
            f"{fmt.number(ev.replica_requests_per_s)} requests/s",
        ),
        _formula(
            "Replicas and accelerators",
            "replicas = ceil(rate / μ); accelerators = replicas × n",
            f"ceil({fmt.number(ev.request_rate_per_s)} / {fmt.number(ev.replica_requests_per_s)}) × {n}",
            f"{fmt.count(ev.replicas)} × {n} = {fmt.count(ev.gpus_required)}",
        ),
        _formula(
            "Fleet cost per day",
            "$/day = accelerators × $/accelerator-hour × 24",
            f"{fmt.count(ev.gpus_required)} × {fmt.usd(dep.usd_per_hour)} × 24",
            fmt.usd(ev.usd_per_day),
        ),
    ]
