from nanogpt_dash.compat import DashboardBroadcaster, status_for_reason
from nanogpt_dash.store import RunReader


def test_basic_dashboard_calls_are_recorded_in_a_run(tmp_path):
    board = DashboardBroadcaster(port=8050, out_dir=tmp_path / "legacy")
    board.log_status("training", "starting")
    for i in range(3):
        board.log_metrics({"iter": i, "loss": 3.0 - i, "elapsed": 0.5 * i})
    board.send_completion_status("done")
    board.log_metrics({"iter": 99, "loss": 0.0})  # after completion: ignored, never raises
    with RunReader(tmp_path / "legacy") as reader:
        meta = reader.meta()
        batch = reader.scalars_since(0)
        events = reader.events_since(0)
    assert meta.status == "finished"
    loss = [(int(s), float(v)) for s, k, v in zip(batch.step, batch.key, batch.value) if k == "train/loss"]
    assert loss == [(0, 3.0), (1, 2.0), (2, 1.0)]
    assert "elapsed_s" in batch.key
    assert [e.kind for e in events] == ["status", "completed"]


def test_shutdown_reason_sets_the_status(tmp_path):
    board = DashboardBroadcaster(out_dir=tmp_path / "stopped")
    board.log_metrics({"iter": 0, "loss": 1.0})
    board.shutdown("KeyboardInterrupt", "user pressed Ctrl-C")
    with RunReader(tmp_path / "stopped") as reader:
        assert reader.meta().status == "interrupted"
    assert status_for_reason("error") == "crashed" and status_for_reason("complete") == "finished"
