import time

import pytest

from nanogpt_dash import system
from nanogpt_dash.store import RunReader
from nanogpt_dash.system import CPU_PERCENT, GPU_MEM_MB, RSS_MB, SystemSampler
from nanogpt_dash.tracking import Run


def test_a_due_sample_has_cpu_and_rss_at_the_newest_pending_step():
    sampler = SystemSampler(interval_s=0.0)
    rows = sampler.rows([(7, 1.0, "train/loss", 2.0), (8, 1.0, "train/loss", 1.9)])
    values = {key: value for step, _, key, value in rows if step == 8}
    assert values[RSS_MB] > 10 and values[CPU_PERCENT] >= 0
    assert {step for step, *_ in rows} == {8}


def test_one_sample_per_interval_at_the_last_step_seen():
    sampler = SystemSampler(interval_s=0.0)
    assert sampler.rows() == [], "no step logged yet: nothing to attach a sample to"
    sampler.interval_s = 60.0
    assert {step for step, *_ in sampler.rows([(3, 0.0, "x", 1.0)])} == {3}
    assert sampler.rows([(4, 0.0, "x", 1.0)]) == [], "the next one is 60 s away"
    sampler._next = 0.0
    assert {step for step, *_ in sampler.rows()} == {4}, "the last step seen is kept"


def test_a_failing_sampler_stops_quietly(monkeypatch):
    sampler = SystemSampler(interval_s=0.0)
    monkeypatch.setattr(sampler._process, "memory_info", lambda: (_ for _ in ()).throw(OSError("gone")))
    assert sampler.rows([(1, 0.0, "x", 1.0)]) == [] and "OSError: gone" in sampler.error
    assert sampler.rows([(2, 0.0, "x", 1.0)]) == []


def test_cpu_only_process_reports_no_gpu_metrics():
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        pytest.skip("CUDA is in use in this process")
    assert GPU_MEM_MB not in SystemSampler(0.0).sample()


def test_gpu_memory_is_sampled_once_cuda_is_in_use():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    block = torch.empty(64 * 1024 * 1024, dtype=torch.uint8, device="cuda")
    values = SystemSampler(0.0).sample()
    assert values[GPU_MEM_MB] >= 64 and values[system.GPU_MEM_PEAK_MB] >= 64
    del block


def test_run_logs_system_metrics_from_its_writer_thread(runs_dir, monkeypatch):
    monkeypatch.setattr(system, "SYSTEM_INTERVAL_S", 0.05)
    run = Run(runs_dir / "s")
    for step in range(40):
        run.log({"train/loss": 1.0}, step=step)
        time.sleep(0.01)
    run.finish()
    with RunReader(runs_dir / "s") as reader:
        rows = [(s, k) for b in reader.iter_scalars() for s, k in zip(b.step, b.key) if k.startswith("sys/")]
    assert {k for _, k in rows} >= {CPU_PERCENT, RSS_MB}
    assert len(rows) >= 4 and all(0 <= s < 40 for s, _ in rows)
