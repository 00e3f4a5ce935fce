"""What a heartbeat reports: real cpu, memory and GPU use, and the load score."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass

import psutil


def gpu_usage() -> float:
    """GPU utilisation in percent from NVML or nvidia-smi; 0 when there is no GPU."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        if count:
            used = [
                pynvml.nvmlDeviceGetUtilizationRates(pynvml.nvmlDeviceGetHandleByIndex(i)).gpu
                for i in range(count)
            ]
            return float(sum(used) / count)
    except Exception:
        pass
    smi = shutil.which("nvidia-smi")
    if not smi:
        return 0.0
    try:
        out = subprocess.run(
            [smi, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
        values = [float(x) for x in out.split() if x.strip()]
        return sum(values) / len(values) if values else 0.0
    except (OSError, ValueError, subprocess.SubprocessError):
        return 0.0


@dataclass(frozen=True)
class Sample:
    cpu_usage: float
    memory_usage: float
    memory_total_mb: float
    gpu_usage: float


async def sample() -> Sample:
    mem = psutil.virtual_memory()
    gpu = await asyncio.to_thread(gpu_usage)
    return Sample(
        cpu_usage=psutil.cpu_percent(interval=None),
        memory_usage=mem.percent,
        memory_total_mb=round(mem.total / 2**20, 1),
        gpu_usage=gpu,
    )


def load_score(cpu_usage: float, running: int, capacity: int) -> float:
    """Half cpu, half occupied slots: 0 idle, 1 saturated."""
    return round(0.5 * min(cpu_usage, 100.0) / 100.0 + 0.5 * min(running / capacity, 1.0), 4)
