"""Page helpers for Airflow 3's UI, located by roles, labels and visible text (no CSS classes).

Airflow's form labels are not tied to their inputs (``<label for>`` names another id), so a form
field is found as the ``group`` that holds a label with the field's title. The trigger form's
sections are a single-open accordion whose closed sections are hidden: open the section first.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from playwright.sync_api import Locator, Page, expect

# The first load of the UI on a busy 2-core machine can take tens of seconds.
UI_TIMEOUT_MS = 90_000
# A change inside an open page (an accordion opening, a value committed).
STEP_TIMEOUT_MS = 15_000
RUN_PARAMETERS = "Run Parameters"  # the form's section of the params that name none


def label_pattern(title: str) -> re.Pattern[str]:
    """A label's text: the title, then the required marker ``*`` when the field is required."""
    return re.compile("^" + re.escape(title).replace("\\ ", " ") + r"\s*\*?$")


def log_in(page: Page, base_url: str, user: str, password: str) -> None:
    """Open the UI's login page; `submit_login` completes it (split for a screenshot between)."""
    page.goto(base_url + "/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)


def submit_login(page: Page) -> None:
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Dags", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)


def open_dag(page: Page, dag_id: str) -> None:
    """From the navigation bar: the DAG list, then the DAG's own page."""
    page.get_by_role("link", name="Dags", exact=True).click()
    # Tag links can share the DAG's name: take the one that leads to the DAG.
    link = page.get_by_role("link", name=dag_id, exact=True).and_(
        page.locator(f'a[href$="/dags/{dag_id}"]'))
    link.click(timeout=UI_TIMEOUT_MS)
    page.wait_for_url(re.compile(rf"/dags/{re.escape(dag_id)}$"), timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("heading", name=dag_id, exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
    # The list (one trigger button per DAG) is gone once a single one is left.
    expect(page.get_by_role("button", name="Trigger Dag")).to_have_count(1, timeout=UI_TIMEOUT_MS)


def open_trigger_form(page: Page, dag_id: str) -> Locator:
    """Click the DAG's Trigger button; the modal dialog, its parameters rendered."""
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=f"Trigger Dag - {dag_id}")).to_be_visible(
        timeout=UI_TIMEOUT_MS)
    expect(dialog.get_by_role("button", name=RUN_PARAMETERS, exact=True)).to_be_visible(
        timeout=UI_TIMEOUT_MS)
    return dialog


def open_section(dialog: Locator, section: str | None) -> None:
    """Expand SECTION of the form (None: the top one); clicking an open one would close it."""
    trigger = dialog.get_by_role("button", name=section or RUN_PARAMETERS, exact=True)
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    expect(trigger).to_have_attribute("aria-expanded", "true", timeout=STEP_TIMEOUT_MS)


def form_field(dialog: Locator, title: str) -> Locator:
    """The visible field (label, input, help text) whose label is TITLE."""
    label = dialog.page.locator("label").filter(has_text=label_pattern(title))
    field = dialog.get_by_role("group").filter(has=label)
    expect(field).to_have_count(1, timeout=STEP_TIMEOUT_MS)
    expect(field).to_be_visible(timeout=STEP_TIMEOUT_MS)
    return field


def form_labels(dialog: Locator) -> set[str]:
    """Every field title in the form (open or closed sections), required markers removed."""
    return {re.sub(r"\s*\*$", "", " ".join(text.split()))
            for text in dialog.locator("label").all_inner_texts()}


def run_id_from_url(page: Page, dag_id: str) -> str:
    """After a trigger the UI opens the new run's page: its run id, from the URL."""
    pattern = re.compile(rf"/dags/{re.escape(dag_id)}/runs/([^/?#]+)")
    page.wait_for_url(pattern, timeout=UI_TIMEOUT_MS)
    match = pattern.search(page.url)
    assert match is not None, page.url
    return unquote(match.group(1))
