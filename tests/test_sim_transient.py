"""The simulator warns when its warm-up is shorter than a request's decode time (no steady state).

Derivation of the two cases (Llama-3.1-8B on one H100, Poisson arrivals, 10 % of arrivals
trimmed at each end, see tokencost.sim.transient):
- long answers, short run: 400 requests at 20/s span about 20 s, so the warm-up is the first 40
  arrivals, about 2 s; each answer of 2,000 tokens takes 2,000 decode steps of at least a weight
  read (16 GB / 3.35 TB/s ≈ 4.8 ms) ≈ 10 s, far longer: the warning must appear, and the count
  it asks for, N · stay / warm-up, must be larger than 400;
- short answers, long run: 4,000 requests at 20/s span about 200 s, a warm-up of about 20 s;
  20-token answers decode in well under a second: no warning.
"""

from __future__ import annotations

import re

from tokencost import Scenario
from tokencost.sim import simulate


def _scenario(output_tokens: int) -> Scenario:
    return Scenario(
        name="transient",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 200, "output_tokens": output_tokens, "requests_per_second": 20},
    )


def _warnings(result) -> list[str]:
    return [note for note in result.to_dict()["notes"] if note.startswith("warning: the warm-up")]


def test_a_run_shorter_than_a_decode_time_is_warned_of_with_the_count_that_would_cover_it():
    result = simulate(_scenario(2000), requests=400, seed=0)
    (note,) = _warnings(result)
    warmup_s, stay_s, needed = re.search(
        r"warm-up \(([\d.e+]+) s of arrivals\).*decoding \(([\d.e+]+) s.*at least ([\d,]+) requests", note
    ).groups()
    assert 1.0 < float(warmup_s) < 3.5  # about 40 arrivals at 20/s
    assert float(stay_s) > 9.0  # 2,000 steps of ≥ 4.8 ms
    assert int(needed.replace(",", "")) > 400 * float(stay_s) / float(warmup_s) - 1


def test_a_long_run_of_short_answers_is_not_warned_of():
    assert _warnings(simulate(_scenario(20), requests=4000, seed=0)) == []


def test_the_default_count_is_raised_until_the_warm_up_lasts_a_decode_time():
    # 200 → 2,000 tokens at 20 requests/s on H100s (the analytic fleet of 5 replicas: a default
    # of 1,000 requests per replica, 5,000): the warm-up is the first 500 arrivals, about 25 s,
    # while 2,000 decode steps at the ~16 ms a step of a full batch take about 33 s. So the
    # default is raised (to at least 5,000 × 33/25 ≈ 6,600), said in the notes, and the raised
    # run has no warm-up warning; an explicit count is kept (test above).
    result = simulate(_scenario(2000), seed=0)
    notes = result.to_dict()["notes"]
    (raised,) = [note for note in notes if note.startswith("requests raised")]
    first, final = (int(n.replace(",", "")) for n in re.search(r"from ([\d,]+) to ([\d,]+)", raised).groups())
    assert first == 5000 and final == len(result.requests.arrival_s) > 6000
    assert _warnings(result) == []
    done = result.measured & result.requests.completed
    stay_s = (result.requests.completion_s[done] - result.requests.first_token_s[done]).mean()
    assert result.window_s[0] - result.start_s >= stay_s


def test_steady_raises_an_explicit_count_and_short_answers_keep_theirs():
    raised = simulate(_scenario(2000), requests=400, seed=0, steady=True)
    assert len(raised.requests.arrival_s) > 400 and _warnings(raised) == []
    kept = simulate(_scenario(20), requests=4000, seed=0, steady=True)
    assert len(kept.requests.arrival_s) == 4000
    assert not any(note.startswith("requests raised") for note in kept.to_dict()["notes"])
