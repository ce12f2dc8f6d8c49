"""TensorBoard import: event files written by SummaryWriter come back point for point."""

import math
import struct

import numpy as np
import pytest

pytest.importorskip("tensorboard")
from torch.utils.tensorboard import SummaryWriter  # noqa: E402
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata  # noqa: E402
from tensorboard.compat.proto.tensor_pb2 import TensorProto  # noqa: E402
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c  # noqa: E402

from nanogpt_dash.__main__ import main  # noqa: E402
from nanogpt_dash.store import RunReader  # noqa: E402
from nanogpt_dash.tb_import import TbImportError, import_logdir, run_id_for, tb_run_dirs  # noqa: E402

T0 = 1_700_000_000.0


def points(run_dir) -> dict[str, list[tuple[int, float, float]]]:
    with RunReader(run_dir) as reader:
        out: dict[str, list] = {}
        for batch in reader.iter_scalars():
            for step, t, key, value in zip(batch.step, batch.wall_time, batch.key, batch.value):
                out.setdefault(key, []).append((int(step), float(t), float(value)))
    return out


@pytest.fixture
def logdir(tmp_path):
    root = tmp_path / "tb"
    rng = np.random.default_rng(0)
    written = {}
    for name in ("exp1/train", "exp2"):
        writer = SummaryWriter(log_dir=str(root / name))
        expected = {"loss": [], "lr": []}
        for i, step in enumerate(range(0, 3000, 3)):
            loss = float(rng.normal(2.0, 0.5))
            loss = math.nan if i == 7 else math.inf if i == 8 else loss
            writer.add_scalar("loss", loss, step, walltime=T0 + i * 0.25)
            expected["loss"].append((step, T0 + i * 0.25, float(np.float32(loss))))  # summaries hold float32
            if step % 300 == 0:
                writer.add_scalar("lr", 1e-3 / (1 + step), step, walltime=T0 + i * 0.25)
                expected["lr"].append((step, T0 + i * 0.25, float(np.float32(1e-3 / (1 + step)))))
        writer.add_text("sample", "to be, or not", 2997, walltime=T0 + 999)
        writer.close()
        written[name] = expected
    return root, written


def test_tb_run_dirs_are_the_directories_holding_event_files(logdir):
    root, _ = logdir
    assert [run_id_for(root, d) for d in tb_run_dirs(root)] == ["exp1-train", "exp2"]


def test_scalars_equal_what_summary_writer_wrote_point_for_point(logdir, runs_dir):
    root, written = logdir
    results = import_logdir(root, runs_dir, progress=None)
    assert [(r.run_id, r.scalars, r.samples) for r in results] == [("exp1-train", 1010, 1), ("exp2", 1010, 1)]
    for name, run_id in (("exp1/train", "exp1-train"), ("exp2", "exp2")):
        got = points(runs_dir / run_id)
        assert got.keys() == written[name].keys()
        for key, expected in written[name].items():
            assert len(got[key]) == len(expected)
            for (s1, t1, v1), (s2, t2, v2) in zip(got[key], expected):
                assert (s1, t1) == (s2, t2)
                assert v1 == v2 or (math.isnan(v1) and math.isnan(v2))


def test_text_summaries_become_samples_and_times_come_from_the_log(logdir, runs_dir):
    root, _ = logdir
    import_logdir(root, runs_dir, progress=None)
    with RunReader(runs_dir / "exp2") as reader:
        meta = reader.meta()
        samples = reader.events_since(0, kind="sample")
    assert [(e.step, e.wall_time, e.payload["text"], e.payload["tag"]) for e in samples] == \
        [(2997, T0 + 999, "to be, or not", "sample/text_summary")]  # the tag as torch writes it
    assert meta.status == "finished" and meta.created == T0
    assert meta.segments[0].ended == T0 + 999


def test_tensor_scalars_as_tensorflow_2_writes_them(tmp_path, runs_dir):
    writer = SummaryWriter(log_dir=str(tmp_path / "tf2"))
    for step in range(5):
        value = Summary.Value(tag="epoch_loss", tensor=TensorProto(dtype=1, float_val=[step / 4]))
        if step == 0:  # TensorFlow sends the plugin metadata with a tag's first value only
            value.metadata.CopyFrom(SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars")))
        writer.file_writer.add_summary(Summary(value=[value]), step, T0 + step)
    writer.close()
    import_logdir(tmp_path / "tf2", runs_dir, progress=None)
    assert points(runs_dir / "tf2")["epoch_loss"] == [(s, T0 + s, s / 4) for s in range(5)]


def test_a_second_import_skips_runs_already_there(logdir, runs_dir):
    root, _ = logdir
    import_logdir(root, runs_dir, progress=None)
    again = import_logdir(root, runs_dir, progress=None)
    assert all(r.skipped and "remove it" in r.skipped for r in again)
    assert len(points(runs_dir / "exp2")["loss"]) == 1000


def test_a_directory_without_event_files_is_refused_with_a_hint(tmp_path, runs_dir):
    with pytest.raises(TbImportError, match="no event files"):
        import_logdir(tmp_path, runs_dir, progress=None)


def test_cli_import_tb(logdir, runs_dir, capsys):
    root, _ = logdir
    assert main(["import-tb", str(root), "--runs", str(runs_dir)]) == 0
    assert "imported exp2: 1,010 scalars, 1 text samples" in capsys.readouterr().err


def test_a_run_without_scalars_or_text_is_skipped_with_the_reason(tmp_path, runs_dir):
    writer = SummaryWriter(log_dir=str(tmp_path / "hist" / "only"))
    writer.add_histogram("weights", np.arange(10.0), 0)
    writer.close()
    (result,) = import_logdir(tmp_path / "hist", runs_dir, progress=None)
    assert "no scalars or text" in result.skipped and not (runs_dir / "only").exists()


def test_a_file_that_is_not_an_event_file_is_named(tmp_path, runs_dir):
    bad = tmp_path / "bad" / "events.out.tfevents.1.host"
    bad.parent.mkdir()
    payload = b"\xff\xff\xff"  # framed as a TFRecord with good checksums, but no Event inside
    header = struct.pack("<Q", len(payload))
    bad.write_bytes(header + struct.pack("<I", masked_crc32c(header)) + payload + struct.pack("<I", masked_crc32c(payload)))
    with pytest.raises(TbImportError, match="events.out.tfevents.1.host: a record is not a TensorBoard event"):
        import_logdir(tmp_path / "bad", runs_dir, progress=None)
