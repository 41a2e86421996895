import inspect
from pathlib import Path

import yaml
from prefect.client.schemas.schedules import CronSchedule

from flows.nightly import nightly

PREFECT_YAML = Path(__file__).resolve().parents[2] / "prefect.yaml"


def test_nightly_deployment_points_at_the_flow_with_a_valid_cron():
    config = yaml.safe_load(PREFECT_YAML.read_text())
    (deployment,) = [d for d in config["deployments"] if d["name"] == "nightly"]
    assert deployment["entrypoint"] == "flows/nightly.py:nightly"
    assert nightly.name == "nightly"
    parameters = inspect.signature(nightly.fn).parameters
    assert set(deployment["parameters"]) <= set(parameters)
    (schedule,) = deployment["schedules"]
    assert CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"]).cron == "0 2 * * *"
