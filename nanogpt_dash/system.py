"""System metrics of the training process, sampled every few seconds on the tracking writer thread.

Every SYSTEM_INTERVAL_S seconds (5; the environment variable NANOGPT_DASH_SYSTEM_INTERVAL_S
changes it), the first one interval after the run starts. CPU % and resident memory come from psutil. On a GPU: memory from torch's CUDA allocator (only
once the training code has initialised CUDA: the writer thread never starts it), utilisation and
device memory in use from NVML when `pynvml` is installed. They are logged as ordinary scalars.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Sequence

import psutil

SYSTEM_INTERVAL_S = float(os.environ.get("NANOGPT_DASH_SYSTEM_INTERVAL_S", 5.0))  # seconds between samples
MB = 1024 * 1024

CPU_PERCENT = "sys/cpu_percent"  # this process, 100 = one core busy
RSS_MB = "sys/rss_mb"
GPU_UTIL = "sys/gpu_util"  # percent of time a kernel ran (NVML)
GPU_MEM_MB = "sys/gpu_mem_mb"  # memory allocated by torch on the current device
GPU_MEM_PEAK_MB = "sys/gpu_mem_peak_mb"
SYSTEM_KEYS = (CPU_PERCENT, RSS_MB, GPU_UTIL, GPU_MEM_MB, GPU_MEM_PEAK_MB)


class SystemSampler:
    """Takes a sample at most every `interval_s` seconds; `rows()` returns it as scalar rows."""

    def __init__(self, interval_s: float | None = None) -> None:
        self.interval_s = SYSTEM_INTERVAL_S if interval_s is None else interval_s
        self.error: str | None = None
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts psutil's measurement
        self._next = time.monotonic() + self.interval_s
        self._last_step: int | None = None
        self._nvml: Any = None
        self._nvml_tried = False

    def rows(self, pending: Sequence[tuple[int, float, str, float]] = ()) -> list[tuple[int, float, str, float]]:
        """A sample as (step, wall_time, key, value) rows when one is due, else []; never raises.

        The step is that of the newest row in `pending` (else the last step seen), so the sample
        lines up with the training step it was taken during.
        """
        if pending:
            self._last_step = int(pending[-1][0])
        now = time.monotonic()
        if self.error is not None or now < self._next or self._last_step is None:
            return []
        self._next = now + self.interval_s
        try:
            values = self.sample()
        except Exception as e:  # psutil or a driver failing must not reach the writer loop
            self.error = f"system metrics stopped: {type(e).__name__}: {e}"
            return []
        wall = time.time()
        return [(self._last_step, wall, key, value) for key, value in values.items()]

    def sample(self) -> dict[str, float]:
        """The current values of every system metric this machine has."""
        out = {CPU_PERCENT: float(self._process.cpu_percent(None)), RSS_MB: self._process.memory_info().rss / MB}
        out.update(self._gpu())
        return out

    def _gpu(self) -> dict[str, float]:
        torch = sys.modules.get("torch")
        if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return {}
        device = torch.cuda.current_device()
        out = {GPU_MEM_MB: torch.cuda.memory_allocated(device) / MB,
               GPU_MEM_PEAK_MB: torch.cuda.max_memory_allocated(device) / MB}
        handle = self._nvml_handle(device)
        if handle is not None:
            out[GPU_UTIL] = float(self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        return out

    def _nvml_handle(self, device: int) -> Any:
        if not self._nvml_tried:
            self._nvml_tried = True
            try:
                import pynvml

                pynvml.nvmlInit()
                self._nvml = pynvml
            except Exception:  # not installed, or no driver library: utilisation is left out
                self._nvml = None
        if self._nvml is None:
            return None
        return self._nvml.nvmlDeviceGetHandleByIndex(device)
