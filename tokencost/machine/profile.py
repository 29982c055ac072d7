"""The calibration profile: measured rates and overheads as a hardware preset document."""

from __future__ import annotations

import socket
from typing import Any

from tokencost.machine.host import _stamp, total_memory_bytes
from tokencost.machine.timing import (
    BYTES_FP32,
    FIT_MIN_ROWS,
    FRESH_SMALL_BYTES,
    Spread,
    fit_size_efficiency,
)


def _rate_entry(seconds: Spread, work: float, unit: str, **extra: Any) -> dict[str, Any]:
    return {**extra, "seconds": seconds.to_dict(), unit: seconds.rate(work).to_dict()}


def _stream_entries(streams: dict[str, Spread], nbytes: int) -> dict[str, Any]:
    sizes = {name: FRESH_SMALL_BYTES if name == "fresh_copy_small" else nbytes for name in streams}
    moved = {name: size * (2 if "copy" in name else 1) for name, size in sizes.items()}
    return {
        name: _rate_entry(spread, moved[name], "bytes_per_s", array_bytes=sizes[name])
        for name, spread in streams.items()
    }


def fresh_copy_fit(memory: dict[str, Any]) -> tuple[float, float]:
    """``(bytes_per_s, call_s)`` of copying into new memory: ``t = call_s + 2·size/bytes_per_s``.

    A line through the small and the large fresh copy (medians); with only the large one, or
    when noise makes the small one relatively slower than a line allows, the large one's rate
    and no fixed cost.
    """
    large = memory["fresh_copy"]
    rate = _median(large, "bytes_per_s")
    small = memory.get("fresh_copy_small")
    if small is None:
        return rate, 0.0
    size_small, size_large = float(small["array_bytes"]), float(large["array_bytes"])
    t_small, t_large = small["seconds"]["median"], large["seconds"]["median"]
    if t_large <= t_small or size_large <= size_small:
        return rate, 0.0
    per_byte = (t_large - t_small) / (size_large - size_small)
    return 2.0 / per_byte, max(t_small - size_small * per_byte, 0.0)


def _elementwise_entries(passes: dict[str, Spread], nbytes: int) -> dict[str, Any]:
    elements = nbytes // BYTES_FP32
    return {
        "scale": _rate_entry(passes["scale"], 2 * nbytes, "bytes_per_s", array_bytes=nbytes),
        **{
            name: _rate_entry(passes[name], elements, "elements_per_s", array_bytes=nbytes)
            for name in ("exp", "exp_fp64", "tanh")
        },
    }


def _median(entry: dict[str, Any], unit: str) -> float:
    return float(entry[unit]["median"])


def _temporaries(measurements: dict[str, Any], fresh_rate: float) -> list[list[float]]:
    """``[[array_bytes, bytes_per_s], ...]`` of the element-wise chains; a profile without them
    (a GPU's, whose allocator reuses memory) gets the fresh-copy rate at the stream size."""
    chains = measurements.get("elementwise_chain")
    if chains:
        return [[float(p["array_bytes"]), _median(p, "bytes_per_s")] for p in chains]
    return [[float(measurements["memory"]["fresh_copy"]["array_bytes"]), fresh_rate]]


def model_terms(measurements: dict[str, Any], peak_flop_per_s: float, bandwidth: float) -> dict[str, Any]:
    """What the model needs beyond the roofline, from the raw measurements."""
    fitted = [p for p in measurements["size_curve"] if p["shape"][0] >= FIT_MIN_ROWS]
    rows = [p["shape"][0] for p in fitted]
    small = [
        [p["shape"][0], _median(p, "flop_per_s") / peak_flop_per_s]
        for p in measurements["size_curve"]
        if 1 < p["shape"][0] < FIT_MIN_ROWS
    ]
    asymptote, half = fit_size_efficiency(rows, [_median(p, "flop_per_s") for p in fitted], peak_flop_per_s)
    matvec = _median(measurements["matvec_in_cache"], "flop_per_s") / peak_flop_per_s
    vector = next(p for p in measurements["size_curve"] if p["shape"][0] == 1)
    streamed = BYTES_FP32 * vector["shape"][1] * vector["shape"][2] / vector["seconds"]["median"]
    fresh_rate, _ = fresh_copy_fit(measurements["memory"])
    elementwise, overheads = measurements["elementwise"], measurements["overheads"]
    return {
        "size_efficiency": {
            "form": "eta(m) = asymptote_fraction * m / (m + half_rows) for m >= 16; matvec_fraction"
            " for m = 1; between, interpolated in small_rows ([m, eta] measured)",
            "asymptote_fraction": asymptote,
            "half_rows": half,
            "matvec_fraction": min(matvec, 1.0),
            "fitted_rows": rows,
            "small_rows": small,
        },
        "matvec_read_fraction": min(streamed / bandwidth, 1.0),
        "op_call_s": float(overheads["op_call"]["seconds"]["median"]),
        "matmul_call_s": float(overheads["matmul_call"]["seconds"]["median"]),
        "fresh_copy_bytes_per_s": fresh_rate,
        "elementwise_bytes_per_s": _median(elementwise["scale"], "bytes_per_s"),
        "temporaries_bytes_per_s_by_size": _temporaries(measurements, fresh_rate),
        "tanh_per_s": _median(elementwise["tanh"], "elements_per_s"),
        "softmax_per_s": _median(measurements["softmax_fp32"], "elements_per_s"),
        "last_level_cache_bytes": float(measurements["last_level_cache_bytes"]),
    }


def profile_document(
    measurements: dict[str, Any], *, device: str, quick: bool, backend: dict[str, Any], name: str
) -> dict[str, Any]:
    """The YAML document: a scenario ``hardware:`` section and a ``calibration:`` section."""
    date, timestamp = _stamp()
    host = socket.gethostname()
    by_precision = {p: _median(entry, "flop_per_s") for p, entry in measurements["matmul"].items()}
    verify_precision = "fp32" if device == "cpu" else "bf16"
    peak = by_precision[verify_precision]
    bandwidth = _median(measurements["memory"]["read"], "bytes_per_s")
    hardware = {
        "name": name,
        "flops": peak,
        "flops_by_precision": by_precision,
        "bandwidth": bandwidth,
        "memory": measurements.get("memory_bytes", total_memory_bytes()),
        "usd_per_hour": 0.0,
        "count": 1,
        "source": f"tokencost calibrate on {host} {date}",
        "as_of": date,
    }
    calibration = {
        "device": device,
        "precision": verify_precision,
        "quick": quick,
        "host": host,
        "created": timestamp,
        "backend": backend,
        "model_terms": model_terms(measurements, peak, bandwidth),
        "measurements": {
            key: value
            for key, value in measurements.items()
            if key not in ("memory_bytes", "last_level_cache_bytes")
        },
    }
    return {"hardware": hardware, "calibration": calibration}
