"""Calibrate an NVIDIA GPU through torch (imported only here, only when asked)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tokencost.machine.host import DEFAULT_CACHE_BYTES
from tokencost.machine.profile import _elementwise_entries, _rate_entry, _stream_entries, profile_document
from tokencost.machine.timing import (
    BYTES_FP32,
    MATVEC_IN_CACHE_SIZE,
    MIB,
    SOFTMAX_KEYS,
    SOFTMAX_ROWS,
    SOFTMAX_SCALE,
    TINY_SIZE,
    DeviceUnavailableError,
    Progress,
    Spread,
    _quiet,
    time_calls,
)

CUDA_TINY_CALLS = 200


# --------------------------------------------------------------------------- CUDA (PyTorch)


def _torch() -> Any:
    """PyTorch with a CUDA GPU, or :class:`DeviceUnavailableError` saying which is missing."""
    try:
        import torch
    except ImportError:
        raise DeviceUnavailableError(
            "--device cuda needs PyTorch, which is not installed (pip install torch); --device cpu works"
        ) from None
    if not torch.cuda.is_available():
        raise DeviceUnavailableError("--device cuda: PyTorch is installed but finds no CUDA GPU here")
    return torch


@dataclass(frozen=True)
class CudaPlan:
    """Sizes and repetitions of a GPU calibration."""

    repeats: int
    peak_size: int
    stream_bytes: int
    curve_rows: tuple[int, ...]
    curve_inner: int

    @classmethod
    def for_mode(cls, quick: bool) -> CudaPlan:
        if quick:
            return cls(3, 4096, 512 * MIB, (1, 16, 64, 256, 1024), 8192)
        return cls(7, 8192, 2048 * MIB, (1, 16, 32, 64, 128, 256, 512, 1024, 4096), 8192)


def calibrate_cuda(quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Measure the first CUDA GPU with PyTorch and return the profile document.

    Matrix products in bf16, fp16, fp32 (TF32 as PyTorch is set: recorded) and fp64, the size
    curve in bf16, streaming read (``x.sum()``), copy (``copy_``), fresh copy (``clone``),
    element-wise rates, a float32 softmax, and the fixed cost of a kernel launch (tiny ops in a
    burst, then one synchronize). ``tokencost verify`` runs on the CPU only; the profile's
    ``hardware:`` section is for scenarios.
    """
    torch = _torch()
    say = progress or _quiet
    bench = _CudaBench(torch, CudaPlan.for_mode(quick))
    measurements = {
        **_measure_compute(bench, say),
        **_measure_memory(bench, say),
        "memory_bytes": float(torch.cuda.get_device_properties(0).total_memory),
        "last_level_cache_bytes": float(getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 0))
        or DEFAULT_CACHE_BYTES,
    }
    backend = {
        "library": f"torch {torch.__version__} (CUDA {torch.version.cuda})",
        "allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
    }
    return profile_document(
        measurements, device="cuda", quick=quick, backend=backend, name=str(torch.cuda.get_device_name(0))
    )


class _CudaBench:
    """The GPU, a seeded generator and the plan: makes random tensors and times bursts of calls."""

    def __init__(self, torch: Any, plan: CudaPlan) -> None:
        self.torch, self.plan = torch, plan
        self.cuda = torch.device("cuda")
        self.generator = torch.Generator(device=self.cuda).manual_seed(0)

    def tensor(self, *shape: int, dtype: Any = None) -> Any:
        """Standard-normal values drawn in float32 on the GPU, cast to ``dtype`` (float32 if None)."""
        torch = self.torch
        values = torch.randn(*shape, device=self.cuda, dtype=torch.float32, generator=self.generator)
        return values.to(torch.float32 if dtype is None else dtype)

    def timed(self, call: Callable[[], object], count: int = 1) -> Spread:
        """Seconds per call of ``call``, run ``count`` times then synchronized, repeated."""

        def burst() -> None:
            for _ in range(count):
                call()
            self.torch.cuda.synchronize()

        return time_calls(burst, repeats=self.plan.repeats).per(count)


def _measure_compute(bench: _CudaBench, say: Progress) -> dict[str, Any]:
    """Matmul peaks per precision, the bf16 size curve and a matvec in cache (FLOP/s)."""
    torch, tensor, timed, plan = bench.torch, bench.tensor, bench.timed, bench.plan
    size = plan.peak_size
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "fp64": torch.float64}
    matmul = {}
    for name, dtype in dtypes.items():
        say(f"{name} matmul {size}³")
        a, b = tensor(size, size, dtype=dtype), tensor(size, size, dtype=dtype)
        matmul[name] = _rate_entry(
            timed(functools.partial(torch.matmul, a, b)), 2.0 * size**3, "flop_per_s", shape=[size] * 3
        )
        del a, b
    k, curve = plan.curve_inner, []
    weights = tensor(k, k, dtype=torch.bfloat16)
    for m in plan.curve_rows:
        say(f"bf16 matmul ({m}, {k}) @ ({k}, {k})")
        left = tensor(m, k, dtype=torch.bfloat16)
        seconds = timed(functools.partial(torch.matmul, left, weights))
        curve.append(_rate_entry(seconds, 2.0 * m * k * k, "flop_per_s", shape=[m, k, k]))
    small = MATVEC_IN_CACHE_SIZE
    row, square = tensor(1, small, dtype=torch.bfloat16), tensor(small, small, dtype=torch.bfloat16)
    matvec = timed(lambda: row @ square, CUDA_TINY_CALLS)
    return {
        "matmul": matmul,
        "size_curve": curve,
        "matvec_in_cache": _rate_entry(matvec, 2.0 * small * small, "flop_per_s", shape=[1, small, small]),
    }


def _measure_memory(bench: _CudaBench, say: Progress) -> dict[str, Any]:
    """Streams (bytes/s), element-wise passes, a float32 softmax and the kernel-launch overheads."""
    torch, tensor, timed, plan = bench.torch, bench.tensor, bench.timed, bench.plan
    say(f"memory streams over {plan.stream_bytes // MIB} MiB")
    source = tensor(plan.stream_bytes // BYTES_FP32)
    target = torch.empty_like(source)
    streams = {
        "read": timed(source.sum),
        "copy": timed(lambda: target.copy_(source)),
        "fresh_copy": timed(source.clone),
    }
    elements = source[: 16 * MIB // BYTES_FP32]
    doubles = elements.double()
    elementwise = {
        "scale": timed(lambda: elements * 0.5),
        "exp": timed(lambda: torch.exp(elements)),
        "exp_fp64": timed(lambda: torch.exp(doubles)),
        "tanh": timed(lambda: torch.tanh(elements)),
    }
    scores = tensor(SOFTMAX_ROWS // SOFTMAX_KEYS, SOFTMAX_KEYS, SOFTMAX_KEYS, dtype=torch.float32)
    allowed = torch.ones(SOFTMAX_KEYS, SOFTMAX_KEYS, dtype=torch.bool, device=bench.cuda).tril()
    softmax = timed(lambda: torch.softmax((scores * SOFTMAX_SCALE).masked_fill(~allowed, -math.inf), dim=-1))
    tiny = tensor(TINY_SIZE, TINY_SIZE)
    overheads = {
        "op_call": timed(lambda: tiny + tiny, CUDA_TINY_CALLS),
        "matmul_call": timed(lambda: tiny @ tiny, CUDA_TINY_CALLS),
    }
    return {
        "memory": _stream_entries(streams, plan.stream_bytes),
        "elementwise": _elementwise_entries(elementwise, 16 * MIB),
        "softmax_fp32": _rate_entry(
            softmax, SOFTMAX_ROWS * SOFTMAX_KEYS, "elements_per_s", shape=[SOFTMAX_ROWS, SOFTMAX_KEYS]
        ),
        "overheads": {name: {"seconds": spread.to_dict()} for name, spread in overheads.items()},
    }
