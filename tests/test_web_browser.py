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

from tests.conftest import device_file
from tests.web_stack import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PASSWORD, WebStack, web_stack

playwright = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (make system-deps installs Debian's chromium)",
                allow_module_level=True)

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    with web_stack(f"sqlite:///{tmp_path_factory.mktemp('web') / 'rw.db'}") as found:
        yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield found
        found.close()


@pytest.fixture
def page(browser: object, stack: WebStack) -> Iterator[object]:
    """A fresh browser context (no cookies) whose page records anything that is not the app
    talking to itself, and fails the test on it."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})  # type: ignore[attr-defined]
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


def sign_in(page: object, stack: WebStack, name: str = "alice") -> None:
    page.goto(stack.url + "/")  # type: ignore[attr-defined]
    assert "/sign-in" in page.url  # type: ignore[attr-defined]
    page.get_by_label("User name").fill(name)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(PASSWORD)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]


def accessible(page: object) -> None:
    """axe-core (injected from tests/vendor, not fetched) finds nothing serious."""
    page.add_script_tag(path=str(AXE))  # type: ignore[attr-defined]
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")  # type: ignore[attr-defined]
    bad = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"][:3]])
           for v in found["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, bad


def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def cells(page: object, column: int) -> list[str]:
    return page.locator(f"table.cohort tbody tr > :nth-child({column})").all_inner_texts()  # type: ignore[attr-defined]


def test_cohort_signed_in_sorted_and_filtered(page: object, stack: WebStack) -> None:
    sign_in(page, stack)
    assert page.get_by_role("heading", name=re.compile("^Cohort")).is_visible()  # type: ignore[attr-defined]
    assert "within target yesterday" in page.locator("#within-figure").inner_text()  # type: ignore[attr-defined]
    first = page.locator("table.cohort tbody tr").first  # type: ignore[attr-defined]
    assert "new alert" in first.locator("td.reason").inner_text()
    assert page.locator("table.cohort td.grid").first.locator("span.c").count() == 30  # type: ignore[attr-defined]
    never = page.locator("table.never tbody tr")  # type: ignore[attr-defined]
    assert never.count() == sum(e.profile == "never_sent" for e in stack.enrolled)
    accessible(page)
    shot(page, "cohort")
    page.keyboard.press("Tab")  # type: ignore[attr-defined]
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"  # type: ignore[attr-defined]
    page.get_by_role("link", name="Last valid wear day").focus()  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]  # sorting by keyboard
    assert "sort=wear" in page.url and "dir=desc" in page.url  # type: ignore[attr-defined]
    stale = [_days(t) for t in cells(page, 7)]
    assert stale == sorted(stale, reverse=True) and stale[0] > 3
    page.get_by_label("Procedure").select_option("fusion")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Apply").click()  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    procedures = cells(page, 3)
    assert procedures and all(p.startswith("fusion") for p in procedures)


def _days(text: str) -> int:
    if text == "never":
        return 10**6
    return 0 if text == "today" else int(text.split()[0])


def test_patient_chart_band_and_target_edit(page: object, stack: WebStack) -> None:
    sign_in(page, stack)
    patient = next(e.patient_id for e in stack.enrolled if e.profile == "spike")
    page.get_by_role("link", name=patient, exact=True).click()  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert page.locator("#steps-chart canvas").count() == 1  # type: ignore[attr-defined]
    assert "UTC" in page.locator("#tz-note").inner_text()  # type: ignore[attr-defined]
    data = json.loads(page.locator("#chart-data").text_content())  # type: ignore[attr-defined]
    assert len(data["labels"]) == 14 and all(v is not None for v in data["low"])
    assert data["state"][-1] == 5 and data["alerts"]  # yesterday's spike, on the timeline
    legend = page.locator("#steps-chart .u-legend").inner_text()  # type: ignore[attr-defined]
    assert "target low" in legend and "7-day median" in legend
    page.get_by_text("Table of the charts' numbers").click()  # type: ignore[attr-defined]
    assert page.locator("table.numbers tbody tr").count() == 14  # type: ignore[attr-defined]
    accessible(page)
    shot(page, "patient")
    page.get_by_label("Daily steps, low").fill("1234")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Save care plan").click()  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    assert "Care plan saved" in page.get_by_role("status").inner_text()  # type: ignore[attr-defined]
    card = page.locator(".card").nth(1).inner_text()  # type: ignore[attr-defined]
    assert "1,234" in card and "set by a clinician" in card


def test_inbox_acknowledge_and_snooze_are_audited(page: object, stack: WebStack,
                                                  browser: object) -> None:
    sign_in(page, stack)
    page.get_by_role("link", name="Alert inbox").click()  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    assert "clinician alerts per patient-week" in page.locator("#burden").inner_text()  # type: ignore[attr-defined]
    assert "0.4–3.4" in page.locator("#burden").inner_text()  # type: ignore[attr-defined]
    accessible(page)
    shot(page, "inbox")
    rows = page.locator("table.inbox tbody tr")  # type: ignore[attr-defined]
    first = rows.nth(0)
    patient = first.locator("th").inner_text().split("\n")[0]
    first.get_by_role("button", name=re.compile("^Acknowledge")).click()
    page.wait_for_load_state()  # type: ignore[attr-defined]
    assert page.get_by_role("status").inner_text() == "Alert acknowledged."  # type: ignore[attr-defined]
    second = page.locator("table.inbox tbody tr").nth(1)  # type: ignore[attr-defined]
    snoozed = second.locator("th").inner_text().split("\n")[0]
    second.get_by_text("Snooze…").click()
    second.get_by_label("for").select_option("3")
    second.get_by_label("reason").first.fill("seen at clinic today")
    second.get_by_role("button", name="Snooze", exact=True).click()
    page.wait_for_load_state()  # type: ignore[attr-defined]
    assert "Alert snoozed until" in page.get_by_role("status").inner_text()  # type: ignore[attr-defined]
    acked = page.locator("table.inbox tbody tr", has_text=patient).first  # type: ignore[attr-defined]
    assert "acknowledged" in acked.inner_text() and "by alice" in acked.inner_text()
    admin = browser.new_context().new_page()  # type: ignore[attr-defined]
    sign_in(admin, stack, "root")
    admin.goto(stack.url + "/admin?actor=alice")
    trail = admin.locator("table.audit tbody").inner_text()
    assert re.search(rf"alice\s+clinician\s+alert\.acknowledge\s+{patient}", trail)
    assert re.search(rf"alice\s+clinician\s+alert\.snooze\s+{snoozed}", trail)
    assert "page.patient" in trail or "page.inbox" in trail
    accessible(admin)
    admin.context.close()


def test_a_form_without_its_csrf_token_is_refused(page: object, stack: WebStack) -> None:
    sign_in(page, stack)
    page.goto(stack.url + "/inbox")  # type: ignore[attr-defined]
    action = page.locator("table.inbox form").first.get_attribute("action")  # type: ignore[attr-defined]
    refused = page.request.post(stack.url + action, form={"view": "team"},  # type: ignore[attr-defined]
                                headers={"accept": "text/html"})
    assert refused.status == 403 and "CSRF" in refused.text()
    signin = page.request.post(stack.url + "/sign-in", form={  # type: ignore[attr-defined]
        "name": "alice", "password": PASSWORD, "next": "/"}, headers={"accept": "text/html"})
    assert signin.status == 403


def test_sign_out_ends_the_session(page: object, stack: WebStack) -> None:
    sign_in(page, stack)
    page.get_by_role("button", name="Sign out").click()  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    assert "You are signed out" in page.get_by_role("status").inner_text()  # type: ignore[attr-defined]
    page.goto(stack.url + "/inbox")  # type: ignore[attr-defined]
    assert "/sign-in" in page.url  # type: ignore[attr-defined]


def test_a_patient_uploads_a_real_file_on_their_page(page: object, stack: WebStack) -> None:
    walk = device_file("fit/activity/garmin-fenix-5-walk.fit")
    page.goto(f"{stack.url}/me#token={stack.patient_token}")  # type: ignore[attr-defined]
    words = page.locator("#words")  # type: ignore[attr-defined]
    words.filter(has_not_text="Loading").wait_for()
    assert "typical day" in words.inner_text()
    assert page.url.endswith("/me")  # type: ignore[attr-defined]  # the token left the address bar
    page.get_by_label(re.compile("Export file")).set_input_files(str(walk))  # type: ignore[attr-defined]
    page.get_by_role("button", name="Send").click()  # type: ignore[attr-defined]
    result = page.locator("#upload-result.notice")  # type: ignore[attr-defined]
    result.wait_for()
    assert re.search(r"Accepted: 1 day of data.*Days: \d{4}-\d\d-\d\d", result.inner_text())
    page.locator("#uploads tbody tr", has_text=walk.name).wait_for()  # type: ignore[attr-defined]
    page.get_by_label(re.compile("Export file")).set_input_files(  # type: ignore[attr-defined]
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a tracker export"})
    page.get_by_role("button", name="Send").click()  # type: ignore[attr-defined]
    refused = page.locator("#upload-result.problem")  # type: ignore[attr-defined]
    refused.wait_for()
    assert "Not accepted" in refused.inner_text()
    accessible(page)
    shot(page, "own")
