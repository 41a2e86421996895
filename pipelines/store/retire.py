"""Retiring the scoring runs of a replaced night: what depended on the old night leaves the tables readers see.

A nightly scoring run is named for its night and settings (`<night>-<template>-<digest>`), not for the night's
rows: after `nightly --replace` from other inputs, its shards score interactions that are gone, and a rescoring
with the same settings would find the old shards and skip. So before the new night is committed, the old night's
scoring runs move from `<root>/scores/run_id=<run>/` to `<root>/retired/run_id=<replacing run>/scores/
run_id=<run>/`: kept on disk for audit, out of every view (`scores`, `advantages`, `token_advantages`), out of the
trainer's reach, and the night is scored anew. Retiring first means a reader never sees a score whose
interaction is gone: a run killed between the two steps leaves the old night unscored, never mis-scored.
A local move is one rename per run; a store has no rename, so there it is a copy, then a delete.
Training rounds' own scores (`scores/run_id=<training run>/round=k`, k ≥ 1) stay: they are that run's record.
"""

import glob
import os

from pipelines import objectstore

RETIRED = "retired"


def retired_dir(root: str, replacing_run: str) -> str:
    """Where the scoring runs a run retired are kept."""
    return objectstore.join(root, RETIRED, f"run_id={replacing_run}", "scores")


def night_scoring_runs(root: str, night: str) -> list[str]:
    """Ids of the nightly scoring runs of `night` (YYYY-MM-DD) under `root/scores`, sorted."""
    if objectstore.is_url(root):
        shards = objectstore.glob(objectstore.join(root, "scores", f"run_id={night}-*", "**"))
        runs = {url.removeprefix(objectstore.join(root, "scores") + "/").split("/")[0] for url in shards}
    else:
        runs = {
            os.path.basename(path) for path in glob.glob(os.path.join(glob.escape(root), "scores", f"run_id={night}-*"))
        }
    return sorted(run.removeprefix("run_id=") for run in runs)


def retire_night_scores(root: str, night: str, replacing_run: str) -> list[str]:
    """Move the night's scoring runs aside (see the module's docstring); returns every run this replacing run
    has retired, those of an earlier interrupted attempt included (it resumes under the same run id)."""
    target = retired_dir(root, replacing_run)
    for run in night_scoring_runs(root, night):
        source = objectstore.join(root, "scores", f"run_id={run}")
        destination = objectstore.join(target, f"run_id={run}")
        if objectstore.is_url(root):
            objectstore.move_tree(source, destination)
        else:
            os.makedirs(target, exist_ok=True)
            os.replace(source, destination)  # one atomic rename per run
    return retired_runs(root, replacing_run)


def retired_runs(root: str, replacing_run: str) -> list[str]:
    """The scoring runs `replacing_run` retired, sorted."""
    target = retired_dir(root, replacing_run)
    if objectstore.is_url(root):
        names = {url.removeprefix(target + "/").split("/")[0] for url in objectstore.glob(target + "/**")}
    else:
        names = set(os.listdir(target)) if os.path.isdir(target) else set()
    return sorted(name.removeprefix("run_id=") for name in names if name.startswith("run_id="))
