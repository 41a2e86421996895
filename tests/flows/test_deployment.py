import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefect.client.schemas.schedules import CronSchedule

from flows.learn import learn_flow
from flows.nightly import nightly
from flows.refresh import refresh
from flows.runtime import run_flow
from flows.scoring import score_shard_flow
from tests.conftest import wildchat_record, write_jsonl

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "prefect.yaml"
FLOWS = {"nightly": nightly, "score-shard": score_shard_flow, "refresh": refresh, "learn": learn_flow}


def test_every_deployment_points_at_a_flow_with_its_parameters():
    config = yaml.safe_load(PREFECT_YAML.read_text())
    deployments = {d["name"]: d for d in config["deployments"]}
    assert set(deployments) == set(FLOWS)
    for name, deployment in deployments.items():
        module, function = deployment["entrypoint"].split(":")
        assert module.removesuffix(".py").replace("/", ".") == FLOWS[name].fn.__module__
        assert function == FLOWS[name].fn.__name__
        parameters = inspect.signature(FLOWS[name].fn).parameters
        assert set(deployment["parameters"]) <= set(parameters)
        required = {p for p, v in parameters.items() if v.default is inspect.Parameter.empty}
        assert required <= set(deployment["parameters"]), name
    (schedule,) = deployments["nightly"]["schedules"]
    assert CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"]).cron == "0 2 * * *"
    assert "night" not in deployments["nightly"]["parameters"]  # the scheduled run takes last night
    (trigger,) = deployments["learn"]["triggers"]  # learning follows every completed nightly run, on its root
    assert trigger["expect"] == ["prefect.flow-run.Completed"]
    assert trigger["match_related"]["prefect.resource.name"] == "nightly"
    assert trigger["parameters"]["config"]["root"] == "{{ flow_run.parameters['root'] }}"


@pytest.mark.slow
def test_prefect_deploy_registers_the_deployments_and_the_learn_trigger(prefect_harness, tmp_path):
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "AFTERWORD_HOME": str(REPO)}
    prefect = [sys.executable, "-m", "prefect"]
    for command in (["work-pool", "create", "afterword", "--type", "process"], ["--no-prompt", "deploy", "--all"]):
        done = subprocess.run(prefect + command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    with get_client(sync_client=True) as client:
        deployments = {d.name: d for d in client.read_deployments()}
    assert set(deployments) == set(FLOWS)
    for deployment in deployments.values():
        assert deployment.work_pool_name == "afterword"
        (step,) = deployment.pull_steps
        assert step["prefect.deployments.steps.set_working_directory"]["directory"] == str(REPO)
    (schedule,) = deployments["nightly"].schedules
    assert schedule.schedule.cron == "0 2 * * *" and schedule.active
    with get_client(sync_client=True) as client:
        automations = client.read_automations()
    learn_id = deployments["learn"].id
    (chained,) = [a for a in automations if any(getattr(x, "deployment_id", None) == learn_id for x in a.actions)]
    assert "prefect.flow-run.Completed" in chained.trigger.expect

    # With an API configured, a command's flow run is tracked there.
    dump = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(3)])
    summary = run_flow(nightly, inputs=[str(dump)], root=str(tmp_path / "root"), night="2026-11-20", score=False)
    assert summary["conversations"] == 3
    with get_client(sync_client=True) as client:
        runs = [run for run in client.read_flow_runs() if run.parameters.get("root") == str(tmp_path / "root")]
    assert [run.state.type.value for run in runs] == ["COMPLETED"]
