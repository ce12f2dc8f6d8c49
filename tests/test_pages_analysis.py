import numpy as np

from nanogpt_dash.live import LiveStore
from nanogpt_dash.tracking import Run
from nanogpt_dash.analytics import AnomalyEvent
from nanogpt_dash.ui.pages.analysis import RunAnalyses, anomaly_markers, loss_figure, time_to_text


def log_curve(run: Run, steps: range, spike_at: int | None = None) -> None:
    rng = np.random.default_rng(steps.start)
    for step in steps:
        loss = 1.5 + 2.0 * (1 + step / 100) ** -0.5 + rng.normal(0, 0.02) + (1.0 if step == spike_at else 0.0)
        run.log({"train/loss": loss, "iter_ms": 50.0}, step=step)
        if step % 100 == 0:
            run.log({"val/loss": loss + 0.05}, step=step)


def test_analysis_detects_as_data_arrives_and_keeps_earlier_events(runs_dir):
    run = Run(runs_dir / "r", config={"max_iters": 3000, "batch_size": 4, "block_size": 8})
    log_curve(run, range(0, 800), spike_at=500)
    run.flush()
    store = LiveStore(runs_dir)
    store.poll()
    analyses = RunAnalyses(store)
    first = analyses.get("r")
    assert [(e.kind, e.step) for e in first.events if e.kind == "spike"] == [("spike", 500)]
    assert analyses.get("r") is first, "no new rows: the same analysis"
    log_curve(run, range(800, 1600), spike_at=1200)
    run.flush()
    store.poll()
    second = analyses.get("r")
    assert [e.step for e in second.events if e.kind == "spike"] == [500, 1200]
    assert second.forecast is not None and second.forecast.target_step == 3000
    assert second.velocity.step_time.p50_ms == 50.0
    roles = [t.meta.get("role") for t in loss_figure(second, focus=1200).data]
    assert {"smooth", "band", "forecast", "anomalies"} <= set(roles)
    assert "reached 2.5 at step" in time_to_text(second, 2.5)
    run.finish()


def test_anomaly_markers_sit_at_each_events_step_and_value_with_its_message():
    events = [AnomalyEvent("spike", "train/loss", 12, 0.0, "warning", "jumped", 3.5),
              AnomalyEvent("nonfinite", "train/loss", 20, 0.0, "critical", "NaN", float("nan")),
              AnomalyEvent("spike", "grad_norm", 12, 0.0, "warning", "other metric", 9.0),
              AnomalyEvent("plateau", "train/loss", 5, 0.0, "info", "flat", 2.0)]
    trace = anomaly_markers(events, ("train/loss",), lambda s: s * 100)
    assert (trace["x"], trace["y"], trace["text"]) == ([1200.0, 2000.0], [3.5, None], ["warning: jumped", "critical: NaN"])
    assert trace["marker"]["symbol"] == ["diamond-open", "star"], "each severity has its own shape, not only a colour"
    assert anomaly_markers(events, ("val/loss",)) is None
