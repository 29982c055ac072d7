"""How fast the simulator runs: Poisson requests of ~500 tokens in and 250 out, batch ≤ 256.

    python benchmarks/bench_sim.py [--requests 10000,100000] [--repeat K] [--chunked TOKENS]
                                   [--lengths uniform] [--million] [--instructions]

For each request count it prints the CPU time (``time.process_time``, best of K) of building and
running the simulation, in µs per request and per event, and beside it a yardstick measured in the
same run: a plain Python heap loop (``heapq`` push and pop of one tuple per event, the floor of any
event loop in Python). The ratio to the yardstick is steadier than the time on a shared machine.
With ``--million`` it also runs 10^6 requests when the largest count suggests it takes under a
minute. It measures and reports; it never fails on time.

On a shared machine CPU time drifts by 10-20 % from run to run; instructions do not. Under
callgrind, ``--instructions`` turns counting on only around the timed runs (building and running
the simulation), so that the ``totals:`` line of the output file divided by repeat × requests is
instructions per request (compare two trees with the same command)::

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.out \
        python benchmarks/bench_sim.py --requests 10000 --repeat 1 --instructions
    grep totals: /tmp/cg.out
"""

from __future__ import annotations

import argparse
import heapq
import os
import subprocess
import time

from tokencost import Scenario, evaluate
from tokencost.sim import prepare

LOAD_FRACTION = 0.8
MILLION = 1_000_000
MILLION_BUDGET_S = 60.0


def yardstick_s(events: int) -> float:
    """CPU seconds of a bare heap loop over ``events`` events (each pushes its successor)."""
    started = time.process_time()
    heap = [(0.0, 0, 0)]
    for index in range(1, events + 1):
        time_s, _, _ = heapq.heappop(heap)
        heapq.heappush(heap, (time_s + 1.0, 1, index))
    return time.process_time() - started


def counting(args: argparse.Namespace, state: str) -> None:
    """With ``--instructions``: turn callgrind's counting ``on`` or ``off`` in this process."""
    if args.instructions:
        subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True)


def measure(scenario: Scenario, rate: float, args: argparse.Namespace, count: int, repeat: int) -> float:
    """Print the CPU cost of simulating ``count`` requests (best of ``repeat``); return its seconds."""
    serving = {"replicas": 1, "max_batch": 256, "chunked_prefill_tokens": args.chunked}
    setup = prepare(
        scenario,
        traffic={"kind": "poisson", "rate_per_s": rate},
        lengths={"kind": args.lengths},
        serving=serving,
        requests=count,
        seed=0,
    )
    best, simulation = float("inf"), None
    for _ in range(repeat):
        counting(args, "on")
        started = time.process_time()
        candidate = setup.build().run()
        cpu = time.process_time() - started
        counting(args, "off")
        if cpu < best:
            best, simulation = cpu, candidate
    assert simulation is not None
    started = time.process_time()
    data = setup.result(simulation, best).to_dict()
    summary_s = time.process_time() - started
    events = len(simulation.series().time_s)
    floor = min(yardstick_s(events) for _ in range(repeat))
    print(
        f"{count:>9,} requests  {best:7.3f} s CPU  {best / count * 1e6:6.1f} µs/request  "
        f"{best / events * 1e6:5.2f} µs/event ({events:,} events)  "
        f"heap-loop yardstick {floor / events * 1e6:5.2f} µs/event  ratio {best / floor:5.1f}  "
        f"summary {summary_s / count * 1e6:4.1f} µs/request"
    )
    print(
        f"{'':>19}simulated {data['duration_s']:.1f} s, {data['requests_completed']:,} completed, "
        f"mean batch {data['mean_batch_size']:.1f}, "
        f"{data['throughput_output_tokens_per_s']:.0f} output tokens/s, "
        f"TTFT p99 {data['ttft_s']['p99'] * 1e3:.1f} ms, TPOT p99 {data['tpot_s']['p99'] * 1e3:.2f} ms"
    )
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", default="10000,100000", help="comma-separated request counts")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunked", type=int, default=None, help="chunked-prefill token budget")
    parser.add_argument("--lengths", default="uniform", choices=["fixed", "uniform", "lognormal"])
    parser.add_argument("--million", action="store_true", help="also 10^6 requests if under a minute")
    parser.add_argument(
        "--instructions", action="store_true", help="under callgrind: count only the timed runs (see above)"
    )
    args = parser.parse_args()
    scenario = Scenario(
        name="bench",
        model={"preset": "llama-3.1-8b"},
        hardware={"preset": "h100-sxm"},
        workload={"input_tokens": 500, "output_tokens": 250, "batch_size": 256},
    )
    capacity = evaluate(scenario).replica_requests_per_s
    rate = LOAD_FRACTION * capacity
    print(
        f"Poisson {rate:.2f}/s = {LOAD_FRACTION:.0%} of analytic capacity, {args.lengths} lengths "
        f"~500 in / 250 out, batch ≤ 256" + (f", chunked prefill {args.chunked}" if args.chunked else "")
    )
    counts = [int(text) for text in args.requests.split(",") if text]
    per_request_s = 0.0
    for count in counts:
        per_request_s = measure(scenario, rate, args, count, args.repeat) / count
    if args.million and MILLION not in counts:
        estimate = per_request_s * MILLION
        if estimate < MILLION_BUDGET_S:
            measure(scenario, rate, args, MILLION, 1)
        else:
            print(f"10^6 requests skipped: about {estimate:.0f} s expected (over {MILLION_BUDGET_S:.0f} s)")


if __name__ == "__main__":
    main()
