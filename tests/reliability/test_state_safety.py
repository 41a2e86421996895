"""Config checked at load, the writer lock, trainer state without pickle, checkpoint retention, leftovers."""

import json
import os
import pickle
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from flows.config import RunConfig
from pipelines.config_loading import ConfigError
from pipelines.store import layout as storage
from pipelines.store.leftovers import is_leftover
from pipelines.store.lock import LOCK_FILE, RootLockedError, writer_lock
from train import checkpoint
from train.metrics import truncate_after

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"select": {"languages": "English"}}, r"\[select\] languages = 'English': expected a list of strings"),
        ({"ingest": {"max_record_bytes": 1.5}}, r"\[ingest\] max_record_bytes = 1.5: expected an integer"),
        ({"select": {"drop_toxic": "yes"}}, r"\[select\] drop_toxic = 'yes': expected true or false"),
        ({"select": {"min_messages": "3"}}, r"\[select\] min_messages = '3': expected an integer"),
        ({"select": {"min_messages": 1}}, r"\[select\]: min_messages must be >= 2"),
        ({"select": {"start_date": "2026-13-01"}}, r"start_date = '2026-13-01': expected a date"),
        ({"chunk_bytes": "big"}, r"chunk_bytes = 'big': expected an integer"),
        ({"select": "English"}, r"\[select\] must be a table"),
    ],
)
def test_failure_6_config_values_are_checked_at_load_naming_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict(values)


def test_config_conversions_keep_valid_values():
    cfg = RunConfig.from_dict({"select": {"languages": ["English"], "start_date": "2026-01-01"}, "beam_args": []})
    assert cfg.select.languages == ("English",) and str(cfg.select.start_date) == "2026-01-01"


def hold_lock_in_child(root: Path) -> subprocess.Popen:
    code = (
        "import sys, time; from pipelines.store.lock import writer_lock\n"
        "with writer_lock(sys.argv[1], 'nightly'):\n    print('held', flush=True); time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(root)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "held\n"
    return child


def test_failure_2_lock_names_its_holder_and_a_killed_holder_leaves_no_lock(tmp_path):
    root = tmp_path / "root"
    child = hold_lock_in_child(root)
    try:
        holder = rf"in use by nightly \(pid {child.pid} on \S+, since "
        with pytest.raises(RootLockedError, match=holder), writer_lock(str(root), "refresh"):
            pass
        # Score workers yield to a nightly run too.
        with pytest.raises(RootLockedError), writer_lock(str(root), "score worker", shared=True):
            pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert str(child.pid) in (root / LOCK_FILE).read_text()  # stale text, no lock behind it
    with writer_lock(str(root), "refresh"), writer_lock(str(root), "nested step"):
        assert "refresh" in (root / LOCK_FILE).read_text()


def test_score_workers_share_the_root_but_exclude_a_nightly(tmp_path):
    with writer_lock(str(tmp_path), "score worker", shared=True):
        child = subprocess.run(
            [sys.executable, "-c", "import sys; from pipelines.store.lock import writer_lock\n"
             "with writer_lock(sys.argv[1], 'score worker', shared=True): pass\n"
             "try:\n    writer_lock(sys.argv[1], 'nightly').__enter__()\nexcept RuntimeError as e: print(e)",
             str(tmp_path)],
            cwd=REPO, capture_output=True, text=True, check=True,
        )  # fmt: skip
    assert "in use by score worker" in child.stdout


def test_failure_8_trainer_state_has_no_pickle_and_a_pickled_file_runs_nothing(tmp_path):
    layer = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(layer.parameters())
    layer(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    state = {"optimizer": optimizer.state_dict(), "cursor": {"position": 7}, "rng": checkpoint.rng_state()}
    checkpoint.save_trainer_state(state, str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted([checkpoint.STATE_TENSORS, checkpoint.STATE_JSON])
    loaded = checkpoint.load_trainer_state(str(tmp_path))
    assert loaded["cursor"] == {"position": 7}
    assert torch.equal(loaded["optimizer"]["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    optimizer.load_state_dict(loaded["optimizer"])
    checkpoint.restore_rng(loaded["rng"])

    class RunsCode:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    with open(legacy / checkpoint.LEGACY_STATE_FILE, "wb") as handle:
        pickle.dump({"step": RunsCode()}, handle)
    with pytest.raises(pickle.UnpicklingError):
        checkpoint.load_trainer_state(str(legacy))
    assert not (tmp_path / "pwned").exists()


def fake_round(root: str, run_id: str, index: int) -> str:
    """A round checkpoint's files (sizes don't matter here; save_checkpoint's own test writes real ones)."""
    path = storage.checkpoint_path(root, run_id, index)
    os.makedirs(os.path.join(path, checkpoint.ADAPTER_DIR))
    for name in ("model.safetensors", checkpoint.STATE_TENSORS, checkpoint.STATE_JSON, checkpoint.EMA_FILE):
        Path(path, name).write_bytes(b"x")
    Path(path, checkpoint.META_FILE).write_text("{}")
    return path


def test_checkpoint_retention_keeps_resume_state_on_the_newest_round_only(tmp_path):
    root, run_id = str(tmp_path), "run"
    paths = [fake_round(root, run_id, index) for index in (1, 2, 3, 4)]
    checkpoint.prune_checkpoints(root, run_id, keep_last=3)
    assert not os.path.exists(paths[0])
    assert sorted(os.listdir(paths[1])) == sorted(os.listdir(paths[2])) == [checkpoint.META_FILE, "model.safetensors"]
    assert checkpoint.STATE_TENSORS in os.listdir(paths[3]) and checkpoint.EMA_FILE in os.listdir(paths[3])
    assert checkpoint.latest_checkpoint(root, run_id) == paths[3]


def test_failure_9_a_rerun_sweeps_temporary_files_and_half_written_metrics(tmp_path):
    root = tmp_path / "root"
    leftovers = [
        root / "conversations" / "ingest_date=2026-11-20" / ".data.parquet.abc123.tmp",
        root / ".catalog.k2j3.duckdb",
        root / "checkpoints" / "run_id=r" / ".round-0002.tmp-x1" / "model.safetensors",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    kept = root / "conversations" / "ingest_date=2026-11-20" / "data.parquet"
    kept.write_bytes(b"table")
    with writer_lock(str(root), "nightly"):
        pass
    assert kept.exists() and not any(path.exists() for path in leftovers[:2])
    assert not leftovers[2].parent.exists()

    metrics = tmp_path / "metrics.jsonl"
    lines = [{"step": 0, "round": 0}, {"step": 1, "round": 1}, {"step": 2, "round": 1}, {"step": 3, "round": 2}]
    metrics.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"step": 4, "ro')
    truncate_after(str(metrics), global_step=2, completed_rounds=1)
    assert [json.loads(line)["step"] for line in metrics.read_text().splitlines()] == [0, 1, 2]


def test_checkpoint_files_get_ordinary_modes(tmp_path):
    folder = tmp_path / "round"
    (folder / "adapter").mkdir(parents=True)
    (folder / "adapter" / "a.bin").write_bytes(b"x")
    os.chmod(folder, 0o700)
    checkpoint._share(str(folder))
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(folder / "adapter" / "a.bin").st_mode) == 0o644
    assert is_leftover(".round-0001.tmp-abc") and not is_leftover(".writer.lock")


def test_nightly_command_takes_replace():
    import afterword_cli

    parser = afterword_cli.build_parser()
    assert parser.parse_args(["nightly", "--input", "d.jsonl", "--root", "r", "--replace"]).replace is True
    assert parser.parse_args(["nightly", "--input", "d.jsonl", "--root", "r"]).replace is False
