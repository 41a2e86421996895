"""Checks a command runs before any work or folder is created: every known mistake becomes one InputError.

Each returns what the flow needs (a parsed night, a loaded config, the expanded inputs) or raises
`pipelines.errors.InputError` with a one-line message that names the fix; the CLI prints it and exits 2.
"""

import os
import sys
import tomllib
from datetime import date

from flows import parameters
from flows.config import RunConfig, load_config
from pipelines import objectstore
from pipelines.errors import InputError
from pipelines.store import layout as storage
from pipelines.store.root_access import require_local_root


def parse_night(text: str, flag: str = "--date") -> date:
    """A YYYY-MM-DD night."""
    return parameters.night(text, flag)


def run_config(
    path: str | None, flags: dict[str, str] | None = None, overrides: dict[str, object] | None = None
) -> RunConfig:
    """The nightly RunConfig from a TOML file (or the defaults), dotted flags and the command's own flags as
    dotted `overrides`, with the problem named."""
    return _load(path, lambda p: load_config(p, flags, overrides))


def train_config(path: str | None, flags: dict[str, str] | None = None, **overrides: object):
    """The trainer's TrainConfig from a TOML file's [train] table plus command-line flags and overrides."""
    from train.config import load_train_config  # the trainer's imports load only for `refresh`

    return _load(path, lambda p: load_train_config(p, flags, **overrides))


def learn_config(path: str | None, flags: dict[str, str] | None, root: str, nights: str):
    """`afterword learn`'s LearnConfig: [train], [eval], [gate] and [registry] tables plus their flags."""
    from train.continual.continual import load_learn_config  # the trainer's imports load only for `learn`

    return _load(path, lambda p: load_learn_config(p, flags, root, nights))


def _load(path: str | None, loader):
    if path is not None and not os.path.isfile(path):
        raise InputError(f"--config {path!r} does not exist")
    try:
        return loader(path)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"--config {path}: not valid TOML ({error})") from None
    except (ValueError, TypeError) as error:
        where = f"--config {path}" if path else "config"
        raise InputError(f"{where}: {error}") from None


def nightly_inputs(inputs: list[str], night: date, input_format: str | None) -> list[str]:
    """The inputs with `{night}` filled in, checked to exist and to hold at least one readable file (no CSV)."""
    return parameters.inputs(inputs, night, input_format, "--input")


def writable_root(root: str) -> str:
    """A storage root the run can create or write, checked without creating anything."""
    return parameters.writable_root(root, "--root")


def beam_runner(beam_args: tuple[str, ...]) -> None:
    """The Beam runner `beam_args` names exists and loads (Beam's import costs seconds: only when one is named)."""
    runner = None
    for index, arg in enumerate(beam_args):
        if arg.startswith("--runner="):
            runner = arg.removeprefix("--runner=")
        elif arg == "--runner" and index + 1 < len(beam_args):
            runner = beam_args[index + 1]
    if runner is None:
        return
    from flows.beam_ingest import quiet_beam_import

    with quiet_beam_import():
        from apache_beam.runners.runner import create_runner

    try:
        create_runner(runner)
    except (ValueError, ImportError, AttributeError) as error:
        raise InputError(f"beam_args --runner={runner}: {error}".replace("\n", " ")) from None


def prefect_api() -> None:
    """With PREFECT_API_URL set, a Prefect server answers there (else the run would fail at its first call)."""
    from flows.runtime import orchestrated

    if not orchestrated():
        return
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    try:
        with get_client(sync_client=True) as client:
            problem = client.api_healthcheck()
    except Exception as error:  # the client checks the server's version on entering: any failure is "unreachable"
        problem = error
    if problem is not None:
        raise InputError(
            f"PREFECT_API_URL={PREFECT_API_URL.value()}: no Prefect server answers there ({problem}); start it "
            "(`prefect server start`) or unset PREFECT_API_URL to run in this process"
        )


def local_root(root: str, command: str) -> str:
    """Commands that write model checkpoints and plots as folders take local roots only (README "Object stores")."""
    return require_local_root(root, command)


def existing_root(root: str) -> str:
    """A storage root that exists (commands other than `nightly` never create one)."""
    if not objectstore.is_folder(root):
        raise InputError(f"storage root {root!r} does not exist: run `afterword nightly --root {root} ...` first")
    return root


def night_interactions(root: str, night: date) -> str:
    """The night's interactions file, which scoring reads."""
    existing_root(root)
    return parameters.published_interactions(root, night, f"run `afterword nightly --root {root} --date {night} ...`")


def model_files(model: str, setting: str, root: str | None = None) -> str:
    """The model a command loads is here (the built-in GGUF package, a local folder, the Hugging Face cache, or
    `promoted`: the root's current model), checked without torch and before anything is created: no hub is
    reachable, so a missing one never appears."""
    from pipelines import registry
    from pipelines.backends.model_files import missing_model

    problem = missing_model(registry.resolve_model(model, root))
    if problem:
        raise InputError(f"--{setting} {problem}")
    return model


def device(name: str, setting: str) -> str:
    """A CUDA device needs a CUDA build of torch and a GPU it can see: checked before any work, in one line."""
    if not name.startswith("cuda"):
        return name
    import torch

    if torch.version.cuda is None:
        raise InputError(
            f"--{setting} {name}: this torch ({torch.__version__}) is a CPU build; `make setup-gpu` installs the CUDA "
            f'build and vLLM (README "On a GPU"), or use --{setting} cpu'
        )
    index = name.partition(":")[2]
    if not torch.cuda.is_available() or (index.isdigit() and int(index) >= torch.cuda.device_count()):
        raise InputError(
            f"--{setting} {name}: torch {torch.__version__} sees {torch.cuda.device_count()} GPU(s); check "
            f"`nvidia-smi` and CUDA_VISIBLE_DEVICES, or use --{setting} cpu"
        )
    return name


def out_of_device_memory(error: BaseException) -> str | None:
    """A GPU out of memory, in one line with what to lower (None for any other error). A model that does not fit
    cannot be known before it loads: this is the line the run ends with instead of a traceback."""
    torch = sys.modules.get("torch")  # only a run that loaded torch can run out of GPU memory
    if torch is None or not isinstance(error, torch.OutOfMemoryError):
        return None
    first = str(error).strip().splitlines()[0] if str(error).strip() else "CUDA out of memory"
    return (
        f"the GPU ran out of memory ({first}): lower [score.transformers] max_batch_tokens or [train] "
        "micro_batch_size, use --score.dtype bfloat16, or a smaller model; the rerun resumes"
    )


def refresh_ready(cfg) -> None:
    """A refresh needs stored interactions, and logged mode a scoring run of logged replies."""
    existing_root(cfg.root)
    if not storage.table_files(cfg.root, "interactions"):
        raise InputError(f"no interactions under {cfg.root}: run `afterword nightly --root {cfg.root} ...` first")
    if cfg.mode == "logged" and not os.path.isdir(os.path.join(cfg.root, "scores")):
        raise InputError(
            f"nothing scored under {cfg.root}: logged mode trains on scored logged replies; run "
            "`afterword nightly` without --no-score (or `afterword score`) first, or use --mode onpolicy"
        )
