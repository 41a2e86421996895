"""Inputs kept the Hugging Face way → the data files of one split, pinned so the night can be reproduced.

Three forms are recognised: a Hub id `hf:OWNER/NAME[@REVISION]` (resolved with `huggingface_hub`, from the
local cache first), a `save_to_disk` folder (`state.json`, or `dataset_dict.json` and a folder per split) and a
dataset repository folder (as `huggingface-cli download` leaves it: `data/train-00000-of-00001.parquet`, a
README card). `datasets` decides which files hold the split (its data-file patterns and the card's `configs`),
so their metadata files are never read as records. `?split=NAME&config=NAME` selects a split (default
`train`) and a config. `pipelines/sources.py` plans and reads the files; this module only finds them.
"""

import contextlib
import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from pipelines.errors import InputError

HF_PREFIX = "hf:"
DEFAULT_SPLIT = "train"
# The containers `pipelines/sources.py` reads; a split stored as anything else (CSV, text) is refused.
READABLE_SUFFIXES = (".parquet", ".arrow", ".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson")
SAVE_TO_DISK_FILES = ("state.json", "dataset_dict.json")
_HF_ID = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<revision>[^?]+))?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class DatasetInput:
    input: str  # the input as the user wrote it
    kind: str  # "hub", "save_to_disk" or "repository"
    dataset_id: str  # OWNER/NAME for the Hub, else the folder's absolute path
    revision: str | None  # the Hub commit the files come from; None for a local folder
    config: str | None  # the config read (repository and Hub); None = the dataset's default
    split: str  # the split read
    files: tuple[str, ...]  # the split's data files, in the order `datasets` reads them

    def as_row(self) -> dict:
        """The runs table's `input_datasets` entry."""
        fields = ("input", "kind", "dataset_id", "revision", "config", "split")
        return {name: getattr(self, name) for name in fields}


def is_dataset_input(path: str) -> bool:
    """Whether `path` names a Hub dataset or a folder `datasets` wrote or downloaded (not a folder of dumps)."""
    if path.startswith(HF_PREFIX):
        return True
    folder, _ = _split_options(path)
    return os.path.isdir(folder) and folder_kind(folder) is not None


def resolve_dataset(path: str) -> DatasetInput:
    """The data files of the split `path` names (see the module docstring); InputError when there are none."""
    if path.startswith(HF_PREFIX):
        return _resolve_hub(path)
    folder, options = _split_options(path)
    kind = folder_kind(folder)
    if kind is None:
        raise InputError(f"{folder!r} is neither a save_to_disk folder nor a dataset repository")
    dataset_id = os.path.abspath(folder)
    if kind == "save_to_disk":
        return _resolve_saved(path, folder, dataset_id, options.get("split"))
    return _resolve_repository(path, "repository", dataset_id, None, folder, options)


def folder_kind(folder: str) -> str | None:
    """ "save_to_disk", "repository" or None (a folder of dumps, read file by file as before)."""
    try:
        names = set(os.listdir(folder))
    except OSError:
        return None  # unreadable: planning names the problem as for any folder
    if names & set(SAVE_TO_DISK_FILES):
        return "save_to_disk"
    readme = os.path.join(folder, "README.md")
    has_card = os.path.isfile(readme) and _starts_with_card(readme)
    top_level_inputs = [name for name in names if name.lower().endswith(READABLE_SUFFIXES)]
    # A dataset card (YAML front matter) or a `data/` folder with nothing beside it is a repository; a folder
    # of dumps with a plain README stays a folder of dumps.
    if has_card or (not top_level_inputs and os.path.isdir(os.path.join(folder, "data"))):
        return "repository"
    return None


def _starts_with_card(readme: str) -> bool:
    with open(readme, "rb") as handle:
        return handle.read(4).rstrip(b"\r\n") == b"---"


def _split_options(path: str, folder_only: bool = True) -> tuple[str, dict[str, str]]:
    """`FOLDER?split=test&config=en` → (FOLDER, {"split": "test", "config": "en"}); unknown keys refused. With
    `folder_only`, a `?` after anything but a folder is left alone (a glob's `day?.jsonl`)."""
    if "?" not in path or os.path.lexists(path):
        return path, {}
    base, query = path.split("?", 1)
    if folder_only and not os.path.isdir(base):
        return path, {}
    options = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(options) - {"split", "config"})
    if unknown:
        raise InputError(f"{path!r}: unknown option(s) {unknown}; use ?split=NAME and/or ?config=NAME")
    return base, options


def _resolve_hub(path: str) -> DatasetInput:
    """A Hub dataset's snapshot. A commit already in the local cache is read from it with no request; a branch
    or tag is asked of the Hub (it may have moved), and `huggingface_hub` falls back to the cache when the Hub
    can't be reached or HF_HUB_OFFLINE=1."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError, RepositoryNotFoundError

    spec, options = _split_options(path.removeprefix(HF_PREFIX), folder_only=False)
    match = _HF_ID.match(spec)
    if match is None:
        raise InputError(f"{path!r}: write a Hub dataset as hf:OWNER/NAME[@REVISION][?split=NAME&config=NAME]")
    repo, revision = match["repo"], match["revision"]
    folder = None
    try:
        if revision is not None and _COMMIT.match(revision):
            with contextlib.suppress(LocalEntryNotFoundError):
                folder = snapshot_download(repo, repo_type="dataset", revision=revision, local_files_only=True)
        folder = folder or snapshot_download(repo, repo_type="dataset", revision=revision)
    except (LocalEntryNotFoundError, RepositoryNotFoundError, HFValidationError) as error:
        detail = str(error).splitlines()[0]
        raise InputError(f"{path!r}: dataset {repo} (revision {revision or 'main'}) not available: {detail}") from None
    commit = os.path.basename(os.path.normpath(folder))
    if folder_kind(folder) == "save_to_disk":
        saved = _resolve_saved(path, folder, repo, options.get("split"))
        return DatasetInput(path, "hub", repo, commit, None, saved.split, saved.files)
    return _resolve_repository(path, "hub", repo, commit, folder, options)


def _resolve_saved(path: str, folder: str, dataset_id: str, split: str | None) -> DatasetInput:
    """A `save_to_disk` folder: the Arrow files `datasets.load_from_disk` memory-maps (nothing is copied)."""
    import datasets

    loaded = datasets.load_from_disk(folder)
    if isinstance(loaded, datasets.DatasetDict):
        split = split or DEFAULT_SPLIT
        if split not in loaded:
            raise InputError(f"{path!r} has no split {split!r}; its splits: {sorted(loaded)} (add ?split=NAME)")
        loaded = loaded[split]
    else:
        split = split or str(loaded.split or DEFAULT_SPLIT)
    files = tuple(entry["filename"] for entry in loaded.cache_files)
    if not files:
        raise InputError(f"{path!r}: the saved dataset holds no Arrow file to read")
    return DatasetInput(path, "save_to_disk", dataset_id, None, None, split, files)


def _resolve_repository(
    path: str, kind: str, dataset_id: str, commit: str | None, folder: str, options: dict[str, str]
) -> DatasetInput:
    """A dataset repository: the files `datasets` assigns to the split (its patterns, the card's configs)."""
    import datasets

    split, config = options.get("split") or DEFAULT_SPLIT, options.get("config")
    try:
        builder = datasets.load_dataset_builder(folder, name=config)
    except (ValueError, FileNotFoundError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path!r}: no readable dataset in {folder}: {detail}") from None
    data_files = builder.config.data_files or {}
    if split not in data_files:
        raise InputError(f"{path!r} has no split {split!r}; its splits: {sorted(data_files)} (add ?split=NAME)")
    files = tuple(str(name) for name in data_files[split])
    unreadable = [name for name in files if not name.lower().endswith(READABLE_SUFFIXES)]
    if unreadable:
        raise InputError(f"{path!r}: split {split!r} is stored as {unreadable[0]!r}; readable: {READABLE_SUFFIXES}")
    return DatasetInput(path, kind, dataset_id, commit, config or builder.config.name, split, files)
