"""The `experiment` DAG from a user's chair: headless chromium through the real Airflow UI.

Logs in, opens the DAG from the DAG list, clicks to the trigger form (a modal: it has no URL),
checks that every field of the experiment spec renders with its title, and that fields of several
sections show the DAG's defaults and help text; sets a unique run name and a 2 s load, triggers,
checks through the REST API that the run exists with the form's values, then stops it (state
failed: the DAG runs one at a time). Screenshots: see conftest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from airflow_ui import (
    STEP_TIMEOUT_MS,
    UI_TIMEOUT_MS,
    form_field,
    form_labels,
    log_in,
    open_dag,
    open_section,
    open_trigger_form,
    run_id_from_url,
    submit_login,
)
from playwright.sync_api import Locator, Page, expect

from experiments.params import param_schemas
from harness.airflow_api import TERMINAL_STATES, AirflowClient, AirflowError
from harness.browser import Screenshots
from harness.stack.endpoints import Endpoints
from pipeline.waiting import wait_until

DAG_ID = "experiment"
# Fields checked one by one, from different sections of the form.
CHECKED = ("name", "arrival_rate", "arrival_duration_s", "llm_profile", "retry_base_s",
           "scoring_threshold")
LOAD_DURATION_S = 2  # set in the form: if the run got far, its load would be tiny
RUN_FAILS_WITHIN_S = 150  # validate fails at once; the all_done tasks then end at once (the
# report skipped, finalize failed): no retries on a missing registration


def deployed_params(airflow: AirflowClient) -> dict[str, dict[str, Any]]:
    """The DAG's params as the UI gets them: name -> {value, schema, description}."""
    response = airflow.request("GET", f"/api/v2/dags/{DAG_ID}/details")
    if response.status_code >= 300:
        raise AirflowError(f"DAG details: HTTP {response.status_code}: {response.text[:500]}")
    return dict(response.json()["params"])


def required_but_empty(params: dict[str, dict[str, Any]]) -> list[str]:
    """Params the UI treats as missing: a type without "null" and an empty default.

    Airflow's form disables its Trigger button while any of them is empty.
    """
    empty = []
    for name, param in params.items():
        types = param["schema"].get("type", [])
        types = [types] if isinstance(types, str) else types
        if types and "null" not in types and param["value"] in ("", None):
            empty.append(name)
    return empty


def runs_named(airflow: AirflowClient, name: str) -> list[dict[str, Any]]:
    """Recent runs of the DAG whose spec name (conf) is NAME."""
    response = airflow.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns",
                               params={"order_by": "-run_after", "limit": 50})
    if response.status_code >= 300:
        raise AirflowError(f"list runs: HTTP {response.status_code}: {response.text[:500]}")
    return [run for run in response.json()["dag_runs"] if (run.get("conf") or {}).get("name") == name]


def stop_run(airflow: AirflowClient, run_id: str) -> str:
    """Mark the run failed (its unfinished tasks stop) unless it already ended; its state."""
    state = airflow.get_run(DAG_ID, run_id).state
    if state in TERMINAL_STATES:
        return state
    response = airflow.request("PATCH", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}",
                               json={"state": "failed"})
    if response.status_code >= 300:
        raise AirflowError(f"stop {run_id}: HTTP {response.status_code}: {response.text[:500]}")
    return str(response.json()["state"])


@pytest.fixture
def run_name(airflow: AirflowClient) -> Iterator[str]:
    """A unique spec name for the run this test triggers; any such run left is stopped after."""
    name = f"uitest-{uuid.uuid4().hex[:10]}"
    yield name
    for run in runs_named(airflow, name):
        stop_run(airflow, run["dag_run_id"])


def check_field(dialog: Locator, param: dict[str, Any]) -> Locator:
    """The field of PARAM renders in its section with the DAG's default and its help text."""
    schema = param["schema"]
    open_section(dialog, schema.get("section"))
    field = form_field(dialog, schema["title"])
    default = param["value"]
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types  # [T, "null"]: may stay empty
    if "enum" in schema:  # a select: the chosen option is shown as text (before the help,
        # which may name the options too: the fault profiles' list)
        expect(field.get_by_text(str(default), exact=True).first).to_be_visible()
    elif {"number", "integer"} & set(types):
        box = field.get_by_role("spinbutton")
        expect(box).to_be_editable()
        assert float(box.input_value()) == pytest.approx(float(default)), schema["title"]
    else:
        expect(field.get_by_role("textbox")).to_have_value(str(default))
    help_text = param["description"] or schema["description_md"].splitlines()[0]
    expect(field).to_contain_text(help_text[:40])
    return field


def test_trigger_experiment_from_the_form(endpoints: Endpoints, airflow: AirflowClient,
                                          page: Page, screenshots: Screenshots,
                                          run_name: str) -> None:
    airflow.wait_for_dag(DAG_ID)
    params = deployed_params(airflow)
    code = param_schemas()
    for name in CHECKED:  # the form's titles are the experiment spec's (experiments/spec.py)
        assert params[name]["schema"]["title"] == code[name]["title"], name

    log_in(page, endpoints.airflow_url, endpoints.airflow_user, endpoints.airflow_password)
    screenshots.take(page, "login")
    submit_login(page)
    open_dag(page, DAG_ID)
    dialog = open_trigger_form(page, DAG_ID)
    screenshots.take(page, "form")

    titles = {param["schema"].get("title", name) for name, param in params.items()}
    assert not titles - form_labels(dialog), "fields missing from the form"
    sections = [p["schema"]["section"] for p in params.values() if "section" in p["schema"]]
    for section in sections:
        expect(dialog.get_by_role("button", name=section, exact=True)).to_be_visible()
    dialog.get_by_role("button", name=sections[-1], exact=True).scroll_into_view_if_needed()
    screenshots.take(page, "form-sections")  # a section with a field in error shows a red mark
    for name in CHECKED:
        field = check_field(dialog, params[name])
        if name == "retry_base_s":
            field.scroll_into_view_if_needed()
            screenshots.take(page, "form-retry-policy")

    # The user's edits: a name of our own, a short load.
    open_section(dialog, None)
    form_field(dialog, params["name"]["schema"]["title"]).get_by_role("textbox").fill(run_name)
    open_section(dialog, params["arrival_duration_s"]["schema"]["section"])
    duration = form_field(dialog, params["arrival_duration_s"]["schema"]["title"])
    duration.get_by_role("spinbutton").fill(str(LOAD_DURATION_S))
    duration.get_by_role("spinbutton").press("Tab")  # a number field commits on blur
    expect(duration.get_by_role("spinbutton")).to_have_value(str(LOAD_DURATION_S))
    submit = dialog.get_by_role("button", name="Trigger", exact=True)
    submit.scroll_into_view_if_needed()
    screenshots.take(page, "form-before-trigger")
    try:
        expect(submit).to_be_enabled(timeout=STEP_TIMEOUT_MS)
    except AssertionError as disabled:
        raise AssertionError(
            "the Trigger button stays disabled; required params with an empty default (the UI "
            f"counts them as missing): {required_but_empty(params)}") from disabled
    submit.click()

    run_id = run_id_from_url(page, DAG_ID)
    expect(page.get_by_role("heading").filter(has_text=run_id)).to_be_visible(timeout=UI_TIMEOUT_MS)
    screenshots.take(page, "after-trigger")

    # The run exists, with the form's values (edited and default), and is then stopped.
    created = runs_named(airflow, run_name)
    assert [run["dag_run_id"] for run in created] == [run_id]
    conf = airflow.get_run(DAG_ID, run_id).conf
    assert conf["arrival_duration_s"] == LOAD_DURATION_S
    assert conf["retry_base_s"] == pytest.approx(params["retry_base_s"]["value"])
    assert conf["llm_profile"] == params["llm_profile"]["value"]
    assert stop_run(airflow, run_id) == "failed"
    assert airflow.get_run(DAG_ID, run_id).state == "failed"


def test_the_form_enforces_bounds_and_lists_choices(endpoints: Endpoints, airflow: AirflowClient,
                                                   page: Page, screenshots: Screenshots) -> None:
    """What the browser itself enforces: a rate typed below the model's bound is clamped when
    the field loses focus; Retry on is a multi-select of the error classes; the fault profiles
    are one line each; a field of another arrival kind is not required. Nothing is triggered."""
    airflow.wait_for_dag(DAG_ID)
    params = deployed_params(airflow)
    assert "exclusiveMinimum" not in params["arrival_rate"]["schema"]
    assert params["arrival_rate"]["schema"]["minimum"] == 0
    log_in(page, endpoints.airflow_url, endpoints.airflow_user, endpoints.airflow_password)
    submit_login(page)
    open_dag(page, DAG_ID)
    dialog = open_trigger_form(page, DAG_ID)

    open_section(dialog, params["arrival_rate"]["schema"]["section"])
    rate = form_field(dialog, params["arrival_rate"]["schema"]["title"]).get_by_role("spinbutton")
    rate.fill("-3")
    rate.press("Tab")  # the number input clamps to the Param's minimum on blur
    expect(rate).to_have_value("0")
    screenshots.take(page, "form-rate-clamped")

    cv = form_field(dialog, params["arrival_cv"]["schema"]["title"])
    expect(cv).to_contain_text("Only for arrival kind gamma")
    assert "null" in params["arrival_cv"]["schema"]["type"]

    open_section(dialog, params["llm_profile"]["schema"]["section"])
    profile = form_field(dialog, params["llm_profile"]["schema"]["title"])
    for line in params["llm_profile"]["schema"]["description_md"].splitlines():
        if line.startswith("- **"):
            name = line.split("**")[1]
            expect(profile.get_by_role("listitem").filter(has_text=name).first).to_be_visible()

    open_section(dialog, params["retry_retry_on"]["schema"]["section"])
    retry_on = form_field(dialog, params["retry_retry_on"]["schema"]["title"])
    retry_on.get_by_role("combobox").click()
    for label in params["retry_retry_on"]["schema"]["values_display"].values():
        # a chosen class shows as a chip in the field, the others as options of the open list
        chosen = retry_on.get_by_text(label, exact=True)
        expect(chosen.or_(page.get_by_role("option", name=label)).first).to_be_visible()
    screenshots.take(page, "form-retry-on")
    page.keyboard.press("Escape")


def test_a_value_the_model_refuses_fails_the_run_naming_the_field(
        endpoints: Endpoints, airflow: AirflowClient, page: Page, screenshots: Screenshots,
        run_name: str) -> None:
    """A rate of 0 passes the browser (its minimum is 0: Airflow's form has no strict bound) but
    not the spec model (rate > 0): the run fails at once in `validate`, and the run's page shows a
    note naming the field by its title and dotted path, not a schema dump."""
    airflow.wait_for_dag(DAG_ID)
    params = deployed_params(airflow)
    log_in(page, endpoints.airflow_url, endpoints.airflow_user, endpoints.airflow_password)
    submit_login(page)
    open_dag(page, DAG_ID)
    dialog = open_trigger_form(page, DAG_ID)
    open_section(dialog, None)
    form_field(dialog, params["name"]["schema"]["title"]).get_by_role("textbox").fill(run_name)
    open_section(dialog, params["arrival_rate"]["schema"]["section"])
    rate = form_field(dialog, params["arrival_rate"]["schema"]["title"]).get_by_role("spinbutton")
    rate.fill("0")
    rate.press("Tab")
    expect(rate).to_have_value("0")
    submit = dialog.get_by_role("button", name="Trigger", exact=True)
    submit.scroll_into_view_if_needed()
    expect(submit).to_be_enabled(timeout=STEP_TIMEOUT_MS)
    submit.click()

    run_id = run_id_from_url(page, DAG_ID)
    state = wait_until(
        lambda: (s := airflow.get_run(DAG_ID, run_id).state) in TERMINAL_STATES and s,
        RUN_FAILS_WITHIN_S, what=f"run {run_id} to end")
    assert state == "failed"
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(DAG_ID, run_id)}
    assert states["validate"] == "failed"
    assert states["collect_and_report"] == "skipped"  # nothing was registered: no retries
    assert states["finalize"] == "failed"
    page.reload()
    title = params["arrival_rate"]["schema"]["title"]
    # the run's header shows the note's first line, which names the first problem
    expect(page.get_by_text(f"{title} (arrival.rate)", exact=False).first).to_be_visible(
        timeout=UI_TIMEOUT_MS)
    screenshots.take(page, "refused-run-note")
    note = airflow.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json().get("note") or ""
    assert f"{title} (arrival.rate)" in note and "properties" not in note, note
