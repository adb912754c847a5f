"""The dashboard in a real browser (the system's Chromium, driven by Playwright) against the
real app on uvicorn: sign in, the cohort sorted and filtered, a patient's chart with its
band, a target edited, alerts acknowledged and snoozed from the inbox and their audit rows,
sign-out; a patient uploading a real device file through their own page; a form without its
CSRF token refused. Every page: no request to anything but the app, no console error, and
axe-core finds no serious or critical accessibility violation. Screenshots of the cohort,
patient, inbox and patient's own pages go to tests/artifacts/ (look at them)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import device_file
from tests.web_stack import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PASSWORD, WebStack, web_stack

if not Path(CHROMIUM).exists():  # `make test` installs it first: a missing browser is an error
    pytest.fail(f"{CHROMIUM} is not installed: run `make system-deps` (Debian's chromium)",
                pytrace=False)

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    with web_stack(f"sqlite:///{tmp_path_factory.mktemp('web') / 'rw.db'}") as found:
        yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield found
        found.close()


@pytest.fixture
def page(browser: Browser, stack: WebStack) -> Iterator[Page]:
    """A fresh browser context (no cookies) whose page records anything that is not the app
    talking to itself, and fails the test on it."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("request", lambda r: None if r.url.startswith((stack.url, "data:", "blob:"))
           else problems.append(f"request to {r.url}"))
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
           if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    yield tab
    context.close()
    assert not problems, problems


def sign_in(page: Page, stack: WebStack, name: str = "alice") -> None:
    page.goto(stack.url + "/")
    assert "/sign-in" in page.url
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def accessible(page: Page) -> None:
    """axe-core (injected from tests/vendor, not fetched) finds nothing serious."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"][:3]])
           for v in found["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, bad


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def cells(page: Page, column: int) -> list[str]:
    return page.locator(f"table.cohort tbody tr > :nth-child({column})").all_inner_texts()


def test_cohort_signed_in_sorted_and_filtered(page: Page, stack: WebStack) -> None:
    sign_in(page, stack)
    assert page.get_by_role("heading", name=re.compile("^Cohort")).is_visible()
    assert "within target yesterday" in page.locator("#within-figure").inner_text()
    first = page.locator("table.cohort tbody tr").first
    assert "new alert" in first.locator("td.reason").inner_text()
    assert page.locator("table.cohort td.grid").first.locator("span.c").count() == 30
    never = page.locator("table.never tbody tr")
    assert never.count() == sum(e.profile == "never_sent" for e in stack.enrolled)
    accessible(page)
    shot(page, "cohort")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.get_by_role("link", name="Last valid wear day").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")  # sorting by keyboard
    assert "sort=wear" in page.url and "dir=desc" in page.url
    stale = [_days(t) for t in cells(page, 7)]
    assert stale == sorted(stale, reverse=True) and stale[0] > 3
    page.get_by_label("Procedure").select_option("fusion")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    procedures = cells(page, 3)
    assert procedures and all(p.startswith("fusion") for p in procedures)


def _days(text: str) -> int:
    if text == "never":
        return 10**6
    return 0 if text == "today" else int(text.split()[0])


def test_patient_chart_band_and_target_edit(page: Page, stack: WebStack) -> None:
    sign_in(page, stack)
    patient = next(e.patient_id for e in stack.enrolled if e.profile == "spike")
    page.get_by_role("link", name=patient, exact=True).click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#steps-chart canvas").count() == 1
    assert "UTC" in page.locator("#tz-note").inner_text()
    data = json.loads(page.locator("#chart-data").text_content())
    assert len(data["labels"]) == 14 and all(v is not None for v in data["low"])
    assert data["state"][-1] == 5 and data["alerts"]  # yesterday's spike, on the timeline
    legend = page.locator("#steps-chart .u-legend").inner_text()
    assert "target low" in legend and "7-day median" in legend
    page.get_by_text("Table of the charts' numbers").click()
    assert page.locator("table.numbers tbody tr").count() == 14
    accessible(page)
    shot(page, "patient")
    page.get_by_label("Daily steps, low").fill("1234")
    page.get_by_role("button", name="Save care plan").click()
    page.wait_for_load_state()
    assert "Care plan saved" in page.get_by_role("status").inner_text()
    card = page.locator(".card").nth(1).inner_text()
    assert "1,234" in card and "set by a clinician" in card


def test_inbox_acknowledge_and_snooze_are_audited(page: Page, stack: WebStack,
                                                  browser: Browser) -> None:
    sign_in(page, stack)
    page.get_by_role("link", name="Alert inbox").click()
    page.wait_for_load_state()
    assert "clinician alerts per patient-week" in page.locator("#burden").inner_text()
    assert "0.4–3.4" in page.locator("#burden").inner_text()
    accessible(page)
    shot(page, "inbox")
    rows = page.locator("table.inbox tbody tr")
    first = rows.nth(0)
    patient = first.locator("th").inner_text().split("\n")[0]
    first.get_by_role("button", name=re.compile("^Acknowledge")).click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == "Alert acknowledged."
    second = page.locator("table.inbox tbody tr").nth(1)
    snoozed = second.locator("th").inner_text().split("\n")[0]
    second.get_by_text("Snooze…").click()
    second.get_by_label("for").select_option("3")
    second.get_by_label("reason").first.fill("seen at clinic today")
    second.get_by_role("button", name="Snooze", exact=True).click()
    page.wait_for_load_state()
    assert "Alert snoozed until" in page.get_by_role("status").inner_text()
    acked = page.locator("table.inbox tbody tr", has_text=patient).first
    assert "acknowledged" in acked.inner_text() and "by alice" in acked.inner_text()
    admin = browser.new_context().new_page()
    sign_in(admin, stack, "root")
    admin.goto(stack.url + "/admin?actor=alice")
    trail = admin.locator("table.audit tbody").inner_text()
    assert re.search(rf"alice\s+clinician\s+alert\.acknowledge\s+{patient}", trail)
    assert re.search(rf"alice\s+clinician\s+alert\.snooze\s+{snoozed}", trail)
    assert "page.patient" in trail or "page.inbox" in trail
    accessible(admin)
    admin.context.close()


def test_a_form_without_its_csrf_token_is_refused(page: Page, stack: WebStack) -> None:
    sign_in(page, stack)
    page.goto(stack.url + "/inbox")
    action = page.locator("table.inbox form").first.get_attribute("action")
    refused = page.request.post(stack.url + action, form={"view": "team"},
                                headers={"accept": "text/html"})
    assert refused.status == 403 and "CSRF" in refused.text()
    signin = page.request.post(stack.url + "/sign-in", form={
        "name": "alice", "password": PASSWORD, "next": "/"}, headers={"accept": "text/html"})
    assert signin.status == 403


def test_sign_out_ends_the_session(page: Page, stack: WebStack) -> None:
    sign_in(page, stack)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert "You are signed out" in page.get_by_role("status").inner_text()
    page.goto(stack.url + "/inbox")
    assert "/sign-in" in page.url


def test_a_patient_uploads_a_real_file_on_their_page(page: Page, stack: WebStack) -> None:
    walk = device_file("fit/activity/garmin-fenix-5-walk.fit")
    page.goto(f"{stack.url}/me#token={stack.patient_token}")
    words = page.locator("#words")
    words.filter(has_not_text="Loading").wait_for()
    assert "typical day" in words.inner_text()
    assert page.url.endswith("/me")  # the token left the address bar
    page.get_by_label(re.compile("Export file")).set_input_files(str(walk))
    page.get_by_role("button", name="Send").click()
    result = page.locator("#upload-result.notice")
    result.wait_for()
    assert re.search(r"Accepted: 1 day of data.*Days: \d{4}-\d\d-\d\d", result.inner_text())
    page.locator("#uploads tbody tr", has_text=walk.name).wait_for()
    page.get_by_label(re.compile("Export file")).set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a tracker export"})
    page.get_by_role("button", name="Send").click()
    refused = page.locator("#upload-result.problem")
    refused.wait_for()
    assert "Not accepted" in refused.inner_text()
    accessible(page)
    shot(page, "own")
