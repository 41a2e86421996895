from datetime import UTC, datetime

from schemas import training_rounds
from train.round_row import SIMULATION_COLUMNS, RoundRow


def _row(**columns) -> RoundRow:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    return RoundRow(
        run_id="r", round=1, mode="logged", model_id="m", model_revision="rev", teacher="live",
        loss_name="sampled_token", steps=2, global_step=2, replies=8, tokens=120, learning_rate=1e-6,
        started_at=started, finished_at=started, **columns,
    )  # fmt: skip


def test_round_row_declares_every_training_rounds_column_once():
    assert sorted(RoundRow.columns()) == sorted(training_rounds.SCHEMA.names)
    assert set(SIMULATION_COLUMNS) <= set(RoundRow.columns())


def test_round_row_table_has_the_schema_and_leaves_unset_columns_null():
    table = _row(loss=0.5, checkpoint_path="/c").to_table()
    assert table.schema == training_rounds.SCHEMA
    row = table.to_pylist()[0]
    assert (row["round"], row["steps"], row["loss"], row["checkpoint_path"]) == (1, 2, 0.5, "/c")
    assert row["approval"] is None and row["satisfaction"] is None


def test_a_refresh_row_names_no_simulation_column_and_a_simulation_row_keeps_them():
    assert not set(SIMULATION_COLUMNS) & set(_row().to_row())
    simulated = _row(simulated_user="concise", arm="control", satisfaction=0.5).to_row()
    assert [k for k in simulated if k in SIMULATION_COLUMNS] == ["simulated_user", "arm", "satisfaction"]
    assert simulated["approval"] is None  # a trainer column stays, null or not
