"""The run page's working: each formula with the scenario's numbers substituted."""

from __future__ import annotations

from html import escape

from tokencost import api
from tokencost.model import cost, serving, windows
from tokencost.model import flops as fl
from tokencost.report import format as fmt
from tokencost.results import Evaluation
from tokencost.scenario.scenario import Scenario


def _decode_kv_bytes(ev: Evaluation, dep: serving.Deployment) -> tuple[float, float]:
    """(weight bytes read, KV bytes) of one decode step of a micro-batch at the mean context."""
    micro = float(ev.decode.batch or ev.batch_size or 1) / dep.pipeline
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
    general = "F ≈ 2·N·P + attention = 2·(N_lin − d·V)·P + 2·d·V + a·P·(P+1)/2"
    if dep.windowed:  # the local layers' queries attend to fewer keys: the model's own pairs
        pairs = float(windows.causal_pairs(dep, prompt))
        share, size = _plain(dep.window_share), fmt.count(dep.window_tokens)
        general += (
            f" − a·{share}·C·(C·q·(q−1)/2 + q·r), q = floor(P / C), r = P − q·C, C = {size}"
            if dep.window_chunked
            else f" − a·{share}·m·(m+1)/2, m = max(P − {size}, 0)"
        )
    weights = float(serving.weight_bytes_read(dep, prompt))
    t = int(dep.tensor)
    extra = f" + {fmt.seconds(dep.step_overhead_s)} overhead" if dep.step_overhead_s else ""
    return [
        _formula(
            "Prefill FLOP (one prompt of P tokens)",
            general,
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
            "Prefill time (the first token of a request that does not wait)",
            "T_p = max(F / (Π·η_c·t), M / (β·η_m·t)) + communication",
            f"max({fmt.si(float(pre.flops), 'FLOP')} / ({fmt.si(dep.peak_flop_per_s, 'FLOP/s')} × "
            f"{_plain(dep.compute_efficiency)} × {t}), {fmt.si(float(pre.bytes), 'B')} / "
            f"({fmt.si(dep.bandwidth_bytes_per_s, 'B/s')} × {_plain(dep.bandwidth_efficiency)} × {t})) + "
            f"{fmt.seconds(float(pre.comm_s))}{extra} = max({fmt.seconds(float(pre.compute_s))}, "
            f"{fmt.seconds(float(pre.memory_s))}) + {fmt.seconds(float(pre.comm_s))}{extra}",
            fmt.seconds(float(pre.time_s)),
        ),
    ]


def _fit_formula(scenario: Scenario, dep: serving.Deployment) -> str:
    context = api.length_tokens(scenario, dep).held_context  # evaluate's: a length mix's own
    memory = serving.replica_memory_bytes(dep)
    fits = int(serving.max_batch(dep, context))
    general = "B_max = floor((memory · (1 − reserve) − weights) / (KV bytes per token · (P + O)))"
    if context != scenario.workload.input_tokens + scenario.workload.output_tokens:
        general += ", P the length mix's decode prompt"
    kept = float(context)
    if dep.windowed:  # tokens' worth kept: the window layers hold their last w
        kept = float(windows.kept_entries(dep, float(context)))
        general = (
            "B_max = floor((memory · (1 − reserve) − weights) / (KV bytes per token · kept(P + O))), "
            f"kept(c) = c − {_plain(dep.window_share)}·max(c − {fmt.count(dep.window_tokens)}, 0)"
        )
    return _formula(
        "Sequences that fit in memory (max batch)",
        general,
        f"floor(({fmt.si(memory, 'B')} × {_plain(1 - dep.memory_reserve_fraction)} − "
        f"{fmt.si(dep.weight_bytes, 'B')}) / ({fmt.si(dep.kv_bytes_per_token, 'B')} × {fmt.count(kept)}))",
        fmt.count(fits),
    )


def _decode_formulas(ev: Evaluation, dep: serving.Deployment) -> list[str]:
    decode = ev.decode
    micro = float(decode.batch or ev.batch_size or 1) / dep.pipeline
    weights, kv = _decode_kv_bytes(ev, dep)
    context = float(
        serving.attended_context(dep, float(decode.context_tokens or 0.0))
    )  # window layers: attended
    step_flops = float(decode.flops_per_token or 0.0) * micro
    t = int(dep.tensor)
    batch_word = "B" if dep.pipeline == 1 else "B/p (one micro-batch)"
    return [
        _formula(
            f"Decode bytes per step ({batch_word} sequences a request sees, at the mean context c)",
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
            "One decode step, alone",
            "t_step = max(F_step / (Π·η_c·t), M_step / (β·η_m·t)) + communication",
            f"max({fmt.si(step_flops, 'FLOP')} / ({fmt.si(dep.peak_flop_per_s, 'FLOP/s')} × "
            f"{_plain(dep.decode_efficiency)} × {t}), {fmt.si(decode.bytes_per_step, 'B')} / "
            f"({fmt.si(dep.bandwidth_bytes_per_s, 'B/s')} × {_plain(dep.bandwidth_efficiency)} × {t})) + "
            f"{fmt.seconds(decode.comm_time_s)} = max({fmt.seconds(decode.compute_time_s)}, "
            f"{fmt.seconds(decode.memory_time_s)}) + {fmt.seconds(decode.comm_time_s)}",
            fmt.seconds(decode.step_time_s),
        ),
        *_load_formulas(ev),
    ]


def _load_formulas(ev: Evaluation) -> list[str]:
    """TPOT with interference, the batch by Little's law, TTFT with the queue."""
    decode = ev.decode
    replicas = float(ev.replicas or 1)
    rate = float(ev.request_rate_per_s or 0.0) / replicas
    prefill = float(ev.prefill.time_s or 0.0)
    steps = max(float(ev.output_tokens) - 1.0, 1.0)
    items = []
    if ev.batching == "continuous" and ev.limited_by == "load":
        items.append(
            _formula(
                "Time per output token at this load (the prefills of arrivals interrupt the steps)",
                "TPOT = T_dec / (O − 1), T_dec = Σ steps / (1 − λ·T_p) (+ the wait behind queued "
                "prompts when a prompt fills a pass alone)",
                f"{fmt.seconds(decode.total_time_s)} / {fmt.count(steps)}, with λ·T_p = "
                f"{fmt.number(rate)}/s × {fmt.seconds(prefill)} = {fmt.number(rate * prefill, 3)}",
                fmt.seconds(ev.tpot_s),
            )
        )
        items.append(
            _formula(
                "Sequences in decode (Little's law)",
                "B = λ · T_dec (arrivals per replica per second × seconds in decode)",
                f"{fmt.number(rate)}/s × {fmt.seconds(decode.total_time_s)}",
                fmt.number(ev.batch_size),
            )
        )
    else:
        items.append(
            _formula(
                "Time per output token (a replica kept full at its batch)",
                "TPOT = (Σ steps + (B − 1)·T_p) / (O − 1) (continuous; static: Σ steps / (O − 1))",
                f"{fmt.seconds(decode.total_time_s)} / {fmt.count(steps)}",
                fmt.seconds(ev.tpot_s),
            )
        )
    items.append(
        _formula(
            "Time to first token at this load",
            "TTFT = wait + T_p (wait: the iteration in progress, then the prompts admitted with it)",
            f"{fmt.seconds(ev.queue_wait_s)} + {fmt.seconds(prefill)}",
            fmt.seconds(ev.ttft_s),
        )
    )
    return items


def _money_formulas(ev: Evaluation, dep: serving.Deployment) -> list[str]:
    return _price_at_load_formulas(ev, dep) + _capacity_formulas(ev, dep)


def _price_at_load_formulas(ev: Evaluation, dep: serving.Deployment) -> list[str]:
    """The replica's price per second and the two prices per million tokens at this load."""
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    n = int(dep.accelerators)
    rate = float(ev.request_rate_per_s or 0.0)
    share_out = (
        ev.usd_per_million_output_tokens * ev.output_tokens / (ev.usd_per_request * 1e6)
        if ev.usd_per_request and ev.usd_per_million_output_tokens is not None
        else 0.0
    )
    fleet_usd_s = usd_s * float(ev.replicas or 1)
    return [
        _formula(
            "Replica price per second",
            "$/s = accelerators × $/accelerator-hour / 3600",
            f"{n} × {fmt.usd(dep.usd_per_hour)} / 3600",
            f"${fmt.sig(usd_s)}",
        ),
        _formula(
            "$ per million output tokens at this load (idle and under-batched time included)",
            "$/M = fleet $/s × decode share of busy time / output tokens per second × 1e6",
            f"${fmt.sig(fleet_usd_s)} × {fmt.number(share_out, 3)} / "
            f"({fmt.number(rate)} × {fmt.count(ev.output_tokens)}) × 1e6",
            fmt.usd(ev.usd_per_million_output_tokens),
        ),
        _formula(
            "$ per million input tokens at this load",
            "$/M = fleet $/s × prefill share of busy time / input tokens per second × 1e6",
            f"${fmt.sig(fleet_usd_s)} × {fmt.number(1 - share_out, 3)} / "
            f"({fmt.number(rate)} × {fmt.count(ev.input_tokens)}) × 1e6",
            fmt.usd(ev.usd_per_million_input_tokens),
        ),
    ]


def _capacity_formulas(ev: Evaluation, dep: serving.Deployment) -> list[str]:
    """The price at capacity, what one replica serves, the replicas needed and the daily bill."""
    usd_s = float(cost.usd_per_second(dep.usd_per_hour, dep.accelerators))
    cap = float(ev.batch_cap or ev.batch_size or 1)
    capacity_decode = float(serving.decode_total_time_s(dep, cap, ev.input_tokens, ev.output_tokens))
    n = int(dep.accelerators)
    rate = float(ev.request_rate_per_s or 0.0)
    least = int(rate / float(ev.replica_requests_per_s or 1.0)) + 1
    return [
        _formula(
            "$ per million output tokens at capacity (a replica kept full at its batch cap)",
            "$/M = (D / B_cap) × $/s / O × 1e6 (decode shared by B_cap sequences)",
            f"({fmt.seconds(capacity_decode)} / {fmt.count(cap)}) × ${fmt.sig(usd_s)} / "
            f"{fmt.count(ev.output_tokens)} × 1e6",
            fmt.usd(ev.usd_per_million_output_tokens_at_capacity),
        ),
        _formula(
            "Requests one replica serves per second at its batch cap",
            "μ = 1 / (T_p + D / B_cap)",
            f"1 / ({fmt.seconds(ev.prefill.time_s)} + {fmt.seconds(capacity_decode)} / {fmt.count(cap)})",
            f"{fmt.number(ev.replica_requests_per_s)} requests/s",
        ),
        _formula(
            "Replicas and accelerators",
            "replicas ≥ ceil(rate / μ), the fewest that meet the SLO at its percentile; "
            "accelerators = replicas × n",
            f"ceil({fmt.number(rate)} / {fmt.number(ev.replica_requests_per_s)}) = {least} → "
            f"{fmt.count(ev.replicas)} replicas × {n}",
            f"{fmt.count(ev.gpus_required)}",
        ),
        _formula(
            "Fleet cost per day",
            "$/day = accelerators × $/accelerator-hour × 24",
            f"{fmt.count(ev.gpus_required)} × {fmt.usd(dep.usd_per_hour)} × 24",
            fmt.usd(ev.usd_per_day),
        ),
    ]
