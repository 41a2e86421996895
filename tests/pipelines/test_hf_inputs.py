"""Hugging Face dataset inputs: hf:ID from an offline cache, save_to_disk folders, dataset repositories."""

import json
import os
import shutil

import pyarrow as pa
import pytest

import afterword_cli
from dev import compare_roots
from pipelines import hf_datasets, ingest, sources
from pipelines.arrow_ingest import ingest_chunk
from pipelines.errors import InputError
from pipelines.ingest_config import IngestConfig
from pipelines.rejects import EMPTY_CONVERSATION, MISSING_CONVERSATION, NON_TEXT_CONTENT, UNKNOWN_ROLE
from tests.conftest import shared_file, wildchat_record

COMMIT = "0123456789abcdef0123456789abcdef01234567"
NIGHT = "2026-11-20"
# Lineage columns name the file and row a record came from: a dataset's Arrow/Parquet row index is not the
# JSONL's line number, nor its path the JSONL's. Every other column must match.
LINEAGE = {"source_file", "source_record", "input_files", "input_datasets"}


def as_dataset(records: list[dict]):
    import datasets

    return datasets.Dataset.from_list(records)


def save_forms(records: list[dict], folder) -> dict[str, str]:
    """The records as a save_to_disk folder, a dataset repository folder and a Hub cache snapshot."""
    dataset = as_dataset(records)
    saved, repository = folder / "saved", folder / "repository"
    dataset.save_to_disk(str(saved))
    (repository / "data").mkdir(parents=True)
    dataset.to_parquet(str(repository / "data" / "train-00000-of-00001.parquet"))
    (repository / "README.md").write_text("---\nlicense: odc-by\n---\n# chats\n")
    # The layout huggingface_hub's cache keeps: refs/main names the commit, snapshots/<commit> holds the files.
    cached = folder / "hf_home" / "hub" / "datasets--alice--chats"
    shutil.copytree(repository, cached / "snapshots" / COMMIT)
    (cached / "refs").mkdir()
    (cached / "refs" / "main").write_text(COMMIT)
    return {"save_to_disk": str(saved), "repository": str(repository), "hub": "hf:alice/chats"}


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """HF_HOME in tmp_path, HF_HUB_OFFLINE=1 (and the constants the libraries read at import, already set)."""
    from huggingface_hub import constants

    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return home


def ingest_input(path: str) -> tuple[int, ingest.IngestResult]:
    """Plan, read and ingest an input the way the Beam worker does; (records in, concatenated results)."""
    counts, conversations, rejects = 0, [], []
    for chunk in sources.plan_chunks([path]):
        raw = sources.read_chunk(chunk)
        result = ingest_chunk(raw, chunk, NIGHT, IngestConfig())
        counts += raw.record_count
        conversations.append(result.conversations)
        rejects.append(result.rejects)
    return counts, ingest.IngestResult(pa.concat_tables(conversations), pa.concat_tables(rejects))


def test_forms_resolve_to_their_split_files_and_never_to_metadata(tmp_path, offline_hub):
    forms = save_forms([wildchat_record(i) for i in range(3)], tmp_path)
    saved = hf_datasets.resolve_dataset(forms["save_to_disk"])
    assert [os.path.basename(f) for f in saved.files] == ["data-00000-of-00001.arrow"]
    repository = hf_datasets.resolve_dataset(forms["repository"])
    assert [os.path.relpath(f, forms["repository"]) for f in repository.files] == [
        os.path.join("data", "train-00000-of-00001.parquet")
    ]
    hub = hf_datasets.resolve_dataset(forms["hub"])
    assert (hub.kind, hub.dataset_id, hub.revision, hub.split) == ("hub", "alice/chats", COMMIT, "train")
    for path in forms.values():
        records_in, result = ingest_input(path)
        assert (records_in, result.conversations.num_rows, result.rejects.num_rows) == (3, 3, 0)
    with pytest.raises(InputError, match="no split 'test'.*\\['train'\\]"):
        hf_datasets.resolve_dataset(forms["repository"] + "?split=test")
    with pytest.raises(InputError, match="dataset bob/none .*not available"):
        hf_datasets.resolve_dataset("hf:bob/none")
    assert not hf_datasets.is_dataset_input(str(tmp_path / "day?.jsonl"))  # a glob, not options


def test_dataset_dict_split_is_chosen_and_pinned_revisions_read_the_cache(tmp_path, offline_hub):
    import datasets

    train, test = as_dataset([wildchat_record(i) for i in range(4)]), as_dataset([wildchat_record(9)])
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "dict"))
    assert ingest_input(str(tmp_path / "dict"))[0] == 4
    chosen = hf_datasets.resolve_dataset(str(tmp_path / "dict") + "?split=test")
    assert chosen.split == "test" and ingest_input(chosen.input)[0] == 1
    save_forms([wildchat_record(1)], tmp_path / "hub")
    shutil.copytree(tmp_path / "hub" / "hf_home", offline_hub)
    assert hf_datasets.resolve_dataset(f"hf:alice/chats@{COMMIT}").revision == COMMIT


def test_malformed_records_inside_a_dataset_are_rejects_with_todays_reasons(tmp_path):
    good = wildchat_record(0)
    records = [
        good,
        {**wildchat_record(1), "conversation": None},
        {**wildchat_record(2), "conversation": [{"role": "wizard", "content": "hi"}]},
        {**wildchat_record(3), "conversation": [{"role": "user", "content": None}]},
        {**wildchat_record(4), "conversation": []},
    ]
    as_dataset(records).save_to_disk(str(tmp_path / "saved"))
    records_in, result = ingest_input(str(tmp_path / "saved"))
    assert records_in == result.conversations.num_rows + result.rejects.num_rows == 5
    assert result.conversations["conversation_id"].to_pylist() == ["hash0000"]
    assert result.rejects.select(["source_record", "reason", "conversation_id"]).to_pylist() == [
        {"source_record": 1, "reason": MISSING_CONVERSATION, "conversation_id": "hash0001"},
        {"source_record": 2, "reason": UNKNOWN_ROLE, "conversation_id": "hash0002"},
        {"source_record": 3, "reason": NON_TEXT_CONTENT, "conversation_id": "hash0003"},
        {"source_record": 4, "reason": EMPTY_CONVERSATION, "conversation_id": "hash0004"},
    ]
    raw = json.loads(result.rejects["raw"][1].as_py())
    assert raw["conversation"] == [{"role": "wizard", "content": "hi"}] and "hashed_ip" not in raw


def test_a_folder_with_no_readable_input_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing here")
    with pytest.raises(InputError, match="holds no readable input"):
        sources.plan_chunks([str(tmp_path / "empty")])
    code = afterword_cli.main(["nightly", "--input", str(tmp_path / "empty"), "--root", str(tmp_path / "root")])
    assert code == 2 and "holds no readable input" in capsys.readouterr().err
    assert not (tmp_path / "root").exists()


@pytest.mark.slow
def test_every_form_gives_the_jsonl_nights_tables(tmp_path, offline_hub, prefect_harness):
    from flows.nightly import nightly

    jsonl = shared_file("wildchat_real_small.jsonl")
    records = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    forms = save_forms(records, tmp_path)
    roots = {name: str(tmp_path / f"root_{name}") for name in ["jsonl", *forms]}
    summary = nightly(inputs=[str(jsonl)], root=roots["jsonl"], night=NIGHT, score=False)
    assert (summary["records_in"], summary["conversations"], summary["rejects"]) == (40, 40, 0)
    for name, path in forms.items():
        summary = nightly(inputs=[path], root=roots[name], night=NIGHT, score=False)
        assert summary["records_in"] == summary["conversations"] + summary["rejects"] == 40, name
        assert differing_columns(roots["jsonl"], roots[name]) == [], name
        (dataset,) = pa.concat_tables(read_runs(roots[name]))["input_datasets"].to_pylist()[0]
        assert (dataset["kind"], dataset["split"]) == (name, "train")
    assert dataset["dataset_id"] == "alice/chats" and dataset["revision"] == COMMIT


def read_runs(root: str) -> list[pa.Table]:
    import pyarrow.parquet as pq

    return [pq.read_table(path) for name, path in compare_roots.parquet_files(root).items() if name.startswith("runs")]


def differing_columns(root_a: str, root_b: str) -> list[str]:
    """dev/compare_roots.py's comparison of every table, lineage columns aside."""
    files_a, files_b = compare_roots.parquet_files(root_a), compare_roots.parquet_files(root_b)
    assert sorted(files_a) == sorted(files_b)
    problems = []
    for name in sorted(files_a):
        import pyarrow.parquet as pq

        a, b = pq.read_table(files_a[name]), pq.read_table(files_b[name])
        kept = [column for column in a.column_names if column not in LINEAGE]
        repl_a, repl_b = [(os.path.abspath(root_a), "<root>")], [(os.path.abspath(root_b), "<root>")]
        problems += compare_roots.compare_file(name, a.select(kept), b.select(kept), repl_a, repl_b)
    return problems
