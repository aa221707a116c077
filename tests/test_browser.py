"""The clinician page end to end in a real headless browser: Debian's chromium driven by Playwright.

CI installs chromium (``apt-get install -y chromium``) and the playwright Python package; the
browser is the system's, never one downloaded by Playwright. These tests fail, not skip, when
the browser is missing. ``FDX_CHROMIUM`` overrides the browser's path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from fasciculation_dx.reporting.report_text import percent  # the page writes probabilities as the text output does
from fasciculation_dx.web import make_server, start_in_thread

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LOCAL = ("http://127.0.0.1", "data:")
TIMEOUT_MS = 30_000  # a generous bound for waits, not a timing assertion
DESKTOP = {"width": 1300, "height": 1000}
PHONE = {"width": 390, "height": 844}  # a current phone held upright, in CSS pixels


def _chromium() -> str:
    candidates = [os.environ.get("FDX_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")]
    for path in candidates:
        if path and Path(path).exists():
            return path
    pytest.fail("Debian's chromium is required for the browser tests: apt-get install -y chromium")


@pytest.fixture(scope="module")
def server():
    srv = make_server(port=0)
    start_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright Python package is required for the browser tests: pip install playwright")
    executable = _chromium()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def _open(browser, viewport):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}") or dialog.dismiss())
    page.on("request", lambda req: None if req.url.startswith(LOCAL) else problems.append(f"request: {req.url}"))
    page.problems = problems
    return context, page


@pytest.fixture
def page(browser):
    context, page = _open(browser, DESKTOP)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    context, page = _open(browser, PHONE)
    yield page
    context.close()


def _leading(page) -> str:
    return page.get_attribute("#chart .row:first-child", "data-etiology")


def _wait_for_leading(page, etiology: str) -> None:
    page.wait_for_function(
        "e => document.querySelector('#chart .row') && document.querySelector('#chart .row').dataset.etiology === e",
        arg=etiology,
    )


def test_entering_findings_changes_the_differential(server, page):
    page.goto(server.url)
    page.wait_for_selector("#chart .row")
    assert "does not replace it" in page.inner_text("#disclaimer")
    legends = page.locator("fieldset.section legend").all_inner_texts()
    assert legends[:5] == [
        "Key findings",
        "History, triggers and course",
        "Examination",
        "Laboratory tests",
        "EMG and nerve conduction",
    ]
    base_leader = _leading(page)
    assert base_leader != "als"
    base_pathological = page.inner_text("#pathological-value")

    page.select_option("#setting", "neuromuscular_clinic")
    page.select_option("#ev-age_group", "65_plus")
    page.select_option("#ev-tongue_fasciculations", "yes")
    page.select_option("#ev-weakness", "yes")
    page.select_option("#ev-atrophy", "yes")
    page.select_option("#ev-umn_signs", "yes")
    _wait_for_leading(page, "als")
    page.wait_for_function("() => document.querySelectorAll('#explanation tbody tr').length === 5")
    assert page.inner_text("#pathological-value") != base_pathological
    assert "als" in page.inner_text("#why-lead")
    assert page.locator("#next-tests tbody tr").count() > 0
    assert "neuromuscular clinic" in page.inner_text("#summary")
    assert "tongue_fasciculations=yes" in page.url  # the findings are in the address
    assert page.is_hidden("#error")
    assert page.is_hidden("#mini")  # the summary bar is for narrow screens; here the differential is beside the form

    # removing findings brings the benign causes back
    page.click("#clear")
    page.wait_for_function("() => document.querySelectorAll('#explanation td.empty').length === 1")
    assert _leading(page) != "als"
    if os.environ.get("FDX_SCREENSHOTS"):  # to look at the page: FDX_SCREENSHOTS=some/dir pytest ...
        page.screenshot(path=str(Path(os.environ["FDX_SCREENSHOTS"]) / "fdx-page.png"), full_page=True)
    assert page.problems == []


def test_a_bad_request_shows_the_servers_message(server, page):
    # a stale or mistyped link: an unknown state and a hostile node name
    page.goto(server.url + "#weakness=maybe&%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E=yes")
    page.wait_for_selector("#error:not([hidden])")
    message = page.inner_text("#error")
    assert "unknown state 'maybe' for 'weakness'" in message and "Valid states: no, yes" in message
    listed = page.locator("#unrecognised-list li").all_inner_texts()
    assert any("<img src=x onerror=alert(1)>" in item for item in listed)  # shown as text...
    assert page.locator("#unrecognised img").count() == 0  # ...never as markup
    assert "not updated" in page.inner_text("#status")

    # removing the bad entries clears the error and the page works again
    for _ in range(2):
        page.locator("#unrecognised-list button").first.click()
    page.wait_for_selector("#error", state="hidden")
    page.select_option("#ev-emg_fibrillations", "present")
    page.wait_for_function("() => document.querySelectorAll('#explanation tbody tr td.num').length === 4")
    assert page.is_hidden("#unrecognised")
    assert page.problems == []


def test_credible_intervals_are_drawn_when_available(server, page):
    from fasciculation_dx.web import posterior_interval_or_none

    page.goto(server.url + "#setting=primary_care&weakness=yes")
    page.wait_for_selector("#chart .row")
    page.wait_for_function("() => document.querySelector('#interval-note').textContent.length > 0")
    available = posterior_interval_or_none(server.service.model("primary_care"), {"weakness": "yes"}, 0.9)
    whiskers = page.locator("#chart .whisker:not([hidden])").count()
    if available is None:
        assert whiskers == 0 and "not available" in page.inner_text("#interval-note")
    else:
        assert whiskers == page.locator("#chart .row").count()
        assert "90% credible intervals" in page.inner_text("#interval-note")


def test_the_page_shows_red_flags_and_the_tier_of_each_suggested_test(server, page):
    from fasciculation_dx.web.service import TIER_TITLES

    evidence = {"age_group": "under_40", "caffeine": "yes", "stress_anxiety": "yes", "tongue_fasciculations": "yes"}
    page.goto(server.url + "#setting=primary_care&" + "&".join(f"{k}={v}" for k, v in evidence.items()))
    page.wait_for_function("() => document.querySelectorAll('#explanation tbody tr').length === 4")
    assert page.inner_text("#pathological-head") == "pathological vs benign"
    model = server.service.model("primary_care")
    explanation = model.explain(evidence).set_index("node")
    leading = explanation["leading"].iloc[0]
    assert model.priors.etiologies[leading].category == "benign"
    rows = {row.locator("td").first.inner_text(): row for row in page.locator("#explanation tbody tr").all()}
    tongue = rows["tongue fasciculations = yes"]
    cell = tongue.locator("td.pathological-woe")
    expected = explanation.loc["tongue_fasciculations", "woe_pathological_vs_benign"]
    assert expected > 0
    assert cell.inner_text() == f"+{expected:.2f}"
    assert "towards-pathological" in cell.get_attribute("class")
    assert tongue.locator("td.pathological-lr").inner_text() != ""

    # every suggested test shows its tier, in the order the model gives
    page.wait_for_function("() => document.querySelectorAll('#next-tests tbody tr').length > 0")
    assert page.inner_text("#tier-head") == "tier"
    shown = page.locator("#next-tests tbody td.tier").all_inner_texts()
    tests = model.next_tests(evidence, top=len(shown))
    assert shown == [TIER_TITLES[t] for t in tests["tier"]]
    assert page.problems == []


def _pathological(page) -> float:
    return float(page.inner_text("#pathological-value").removeprefix("Pathological ").removesuffix("%"))


def _wait_for_entered(page, node: str, label: str | None) -> None:
    """Wait until the shown result echoes ``node`` entered as ``label`` (or not entered, for None)."""
    page.wait_for_function(
        """([node, label]) => {
            const item = document.querySelector(`#entered li[data-node="${node}"] .value`);
            return label === null ? item === null && document.querySelector('#chart .row') !== null
                                  : item !== null && item.textContent === label;
        }""",
        arg=[node, label],
    )


def test_a_finding_can_be_entered_as_probable(server, page):
    from fasciculation_dx.inference.soft import PROBABLY

    sent: list[dict] = []
    page.on("request", lambda req: sent.append(req.post_data_json) if req.url.endswith("/api/query") else None)
    page.goto(server.url + "#setting=primary_care")
    _wait_for_entered(page, "weakness", None)
    assert page.is_hidden("#entered")
    unset = _pathological(page)

    # clinicians' order, each choice saying on hover what it stands for
    options = page.locator("#ev-weakness option")
    assert options.evaluate_all("os => os.map(o => o.value)") == ["", "yes", "~yes", "~no", "no"]
    assert options.all_inner_texts() == ["not recorded", "yes", "probably yes", "probably no", "no"]
    probably_yes = page.get_attribute("#ev-weakness option[value='~yes']", "title")
    assert f"{PROBABLY:g} times as likely if yes as if no" in probably_yes
    assert "yes 0.8, no 0.2" in probably_yes
    assert "4 times as likely if no as if yes" in page.get_attribute("#ev-weakness option[value='~no']", "title")
    assert "entered as certain" in page.get_attribute("#ev-weakness option[value='yes']", "title")
    ages = page.locator("#ev-age_group option").evaluate_all("os => os.map(o => o.value)")
    assert ages == ["", "under_40", "~under_40", "40_to_64", "~40_to_64", "65_plus", "~65_plus"]

    page.select_option("#ev-weakness", "yes")
    _wait_for_entered(page, "weakness", "yes")
    hard = _pathological(page)
    assert "entered as certain" in page.get_attribute("#ev-weakness", "title")

    page.select_option("#ev-weakness", "~yes")
    _wait_for_entered(page, "weakness", "probably yes")
    soft = _pathological(page)
    assert unset < soft < hard
    model = server.service.model("primary_care")
    assert soft == pytest.approx(100 * model.category_posterior({"weakness": "~yes"})["pathological"], abs=0.051)
    assert sent[-1]["evidence"] == {"weakness": "~yes"}  # what the page sends for "probably yes"
    title = page.get_attribute("#ev-weakness", "title")  # the control says what its choice stands for
    assert "4 times as likely if yes as if no" in title and "yes 0.8, no 0.2" in title
    assert "4 times as likely" in page.get_attribute("#entered li[data-node='weakness']", "title")
    assert "1 uncertain" in page.inner_text("#summary")
    assert "soft" in page.get_attribute("#ev-weakness", "class")
    assert "weakness=%7Eyes" in page.url  # a probable finding survives a bookmark
    assert page.locator("#explanation tbody td").first.inner_text() == "weakness: probably yes"

    # back to not recorded: the base rates again
    page.select_option("#ev-weakness", "")
    _wait_for_entered(page, "weakness", None)
    assert _pathological(page) == unset
    assert page.get_attribute("#ev-weakness", "title").startswith("not recorded")
    assert page.problems == []


def test_weights_in_the_address_are_shown_as_entered(server, page):
    page.goto(server.url + "#setting=primary_care&weakness=yes:0.7,no:0.3&age_group=~65_plus")
    _wait_for_entered(page, "weakness", "yes 0.7, no 0.3")
    _wait_for_entered(page, "age_group", "probably 65 plus")
    assert page.is_hidden("#unrecognised") and page.is_hidden("#error")
    assert page.input_value("#ev-weakness") == "yes:0.7,no:0.3"
    assert "2.33 times as likely if yes as if no" in page.get_attribute("#ev-weakness", "title")
    assert page.input_value("#ev-age_group") == "~65_plus"
    assert "as likely if 65 plus as if under 40 or 40 to 64" in page.get_attribute("#ev-age_group", "title")
    model = server.service.model("primary_care")
    expected = model.category_posterior({"weakness": {"yes": 0.7, "no": 0.3}, "age_group": "~65_plus"})
    assert _pathological(page) == pytest.approx(100 * expected["pathological"], abs=0.051)  # shown to 0.1%
    assert page.problems == []


# -- a phone: 390 x 844 -------------------------------------------------------------------------------------
def _overflow(page) -> dict:
    """What sticks out sideways: the page's scroll width and every visible select not fully inside the viewport."""
    return page.evaluate(
        """() => ({
            scrollWidth: document.scrollingElement.scrollWidth,
            innerWidth: window.innerWidth,
            outside: [...document.querySelectorAll('select')]
                .filter(s => s.offsetParent !== null)
                .map(s => [s.id, s.getBoundingClientRect()])
                .filter(([, r]) => r.left < 0 || r.right > window.innerWidth)
                .map(([id]) => id),
            selects: [...document.querySelectorAll('select')].filter(s => s.offsetParent !== null).length,
        })"""
    )


def _rect(page, selector: str) -> dict:
    return page.evaluate(
        "s => { const r = document.querySelector(s).getBoundingClientRect(); "
        "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height}; }",
        selector,
    )


def test_the_page_fits_a_phone_with_the_key_findings_on_the_first_screen(server, phone):
    phone.goto(server.url + "#setting=primary_care")
    phone.wait_for_selector("#chart .row")
    fit = _overflow(phone)
    assert fit["scrollWidth"] <= fit["innerWidth"] == PHONE["width"]
    assert fit["outside"] == [] and fit["selects"] > 60  # every finding's control, fully inside the width
    assert phone.evaluate("() => window.scrollY") == 0

    key = [entry["node"] for entry in server.service.schema()["key_findings"]]
    assert {"weakness", "atrophy", "umn_signs", "tongue_fasciculations", "bulbar_symptoms"} <= set(key)
    legends = phone.locator("fieldset.section legend").all_inner_texts()
    assert legends[0] == "Key findings"
    bar = _rect(phone, "#mini")
    assert phone.is_visible("#mini") and bar["bottom"] <= PHONE["height"]
    for node in key:  # on the first screen, above the summary bar: no scrolling to reach them
        assert phone.locator(f"#section-key #ev-{node}").count() == 1
        box = _rect(phone, f"#ev-{node}")
        assert 0 <= box["top"] and box["bottom"] <= bar["top"], node
    # each still has its place in its own section, pointing up to its control
    assert phone.locator("#section-examination .finding.moved[data-node='weakness']").count() == 1
    assert phone.locator("#ev-weakness").count() == 1

    # with findings, the differential's tables and an error: still nothing sticks out sideways
    phone.select_option("#ev-weakness", "yes")
    phone.select_option("#ev-tongue_fasciculations", "~yes")
    phone.wait_for_function("() => document.querySelectorAll('#explanation tbody tr').length === 2")
    phone.wait_for_function("() => document.querySelector('#interval-note').textContent.length > 0")
    fit = _overflow(phone)
    assert fit["scrollWidth"] <= fit["innerWidth"] and fit["outside"] == []
    phone.goto(server.url + "#setting=primary_care&weaknes=yes&weakness=yes:0.7,no:0.3")
    phone.wait_for_selector("#error:not([hidden])")
    fit = _overflow(phone)
    assert fit["scrollWidth"] <= fit["innerWidth"] and fit["outside"] == []
    assert phone.problems == []


def test_a_phone_shows_the_result_while_findings_are_entered(server, phone):
    model = server.service.model("primary_care")
    phone.goto(server.url + "#setting=primary_care")
    phone.wait_for_selector("#chart .row")
    phone.select_option("#ev-weakness", "yes")
    _wait_for_entered(phone, "weakness", "yes")
    lead = model.posterior({"weakness": "yes"}).index[0]
    assert _leading(phone) == lead

    # the chart is screens below the findings, but the summary bar shows the result without scrolling
    viewport_bottom = phone.evaluate("() => window.innerHeight")
    assert _rect(phone, "#chart")["top"] > viewport_bottom
    bar = _rect(phone, "#mini")
    assert 0 <= bar["top"] and bar["bottom"] <= viewport_bottom
    phone.wait_for_function(
        "name => document.querySelector('#mini-lead').textContent.includes(name)", arg=lead.replace("_", " ")
    )
    text = phone.inner_text("#mini")
    assert phone.inner_text("#pathological-value") in text  # "Pathological 80.0%", as in the differential
    pathological = 100 * model.category_posterior({"weakness": "yes"})["pathological"]
    assert _pathological(phone) == pytest.approx(pathological, abs=0.051)
    assert "diagnosis" not in text.lower() or "not a diagnosis" in text.lower()

    # entering more findings further down keeps the bar in view and up to date
    phone.locator("#ev-emg_fibrillations").scroll_into_view_if_needed()
    phone.select_option("#ev-emg_fibrillations", "present")
    _wait_for_entered(phone, "emg_fibrillations", "present")
    bar = _rect(phone, "#mini")
    assert 0 <= bar["top"] and bar["bottom"] <= viewport_bottom
    assert phone.inner_text("#pathological-value") in phone.inner_text("#mini")

    # its button goes to the differential and back to where the findings were
    before = phone.evaluate("() => window.scrollY")
    phone.click("#mini-jump")
    phone.wait_for_function("() => document.querySelector('#mini-jump').textContent.startsWith('Findings')")
    title = _rect(phone, "#results-title")
    assert 0 <= title["top"] < viewport_bottom
    phone.click("#mini-jump")
    phone.wait_for_function("y => Math.abs(window.scrollY - y) < 2", arg=before)
    assert phone.problems == []


def _banner_is_short(page, full: str) -> str:
    """Check the shown error: its head starts the full message, the banner is short, the rest opens on request."""
    page.wait_for_function(
        "t => !document.getElementById('error').hidden && document.getElementById('error-full').textContent === t",
        arg=full,
    )
    head = page.inner_text("#error-head")
    assert full.startswith(head.removesuffix(" …")) and len(head) <= 162
    assert _rect(page, "#error")["height"] <= PHONE["height"] / 5
    if head != full:
        assert page.is_visible("#error summary") and page.is_hidden("#error-full")
        page.click("#error summary")
        assert page.inner_text("#error-full") == full
    else:
        assert page.is_hidden("#error details")
    assert page.inner_text("#mini-lead").startswith("Not updated")  # the summary bar says so too
    assert page.inner_text("#mini-jump") == "Message ↑"
    return head


def test_a_long_error_is_one_short_banner_on_a_phone(server, phone):
    from fasciculation_dx.web.service import RequestError

    # the server's own message for a typo
    with pytest.raises(RequestError) as refused:
        server.service.query({"evidence": {"weaknes": "yes"}})
    phone.goto(server.url + "#setting=primary_care&weaknes=yes")
    head = _banner_is_short(phone, str(refused.value))
    assert "weaknes" in head and "'weakness'" in head  # what was wrong and the closest valid name

    # a message that lists every valid node (a screenful at this width) keeps its first sentences
    names = ", ".join(server.service.model("primary_care").states)
    long = f"unknown node 'weaknes'. Did you mean 'weakness'? Valid nodes: {names}"
    assert len(long) > 1000
    phone.route(
        "**/api/query",
        lambda route: route.fulfill(status=400, content_type="application/json", body=json.dumps({"error": long})),
    )
    phone.goto(server.url + "#setting=primary_care&weaknes=no")
    head = _banner_is_short(phone, long)
    assert head == "unknown node 'weaknes'. Did you mean 'weakness'?"
    assert phone.problems == []


NEGATIVE_ZERO = re.compile(r"-0(\.0+)?(?![.0-9])")


def test_no_negative_zero_is_shown(server, phone):
    evidence = {"caffeine": "no", "weakness": "no", "family_history": "no"}
    model = server.service.model("primary_care")
    explanation = model.explain(evidence).set_index("node")
    weights = explanation[["woe_vs_rest", "woe_vs_runner_up", "woe_pathological_vs_benign"]]
    tiny = weights[(weights < 0) & (weights > -0.005)].stack().dropna()
    assert len(tiny) > 0  # this query does produce weights that round to -0.00
    assert NEGATIVE_ZERO.search(f"{tiny.iloc[0]:.2f}")  # ...as plain formatting would show them

    phone.goto(server.url + "#setting=primary_care&" + "&".join(f"{k}={v}" for k, v in evidence.items()))
    phone.wait_for_function("() => document.querySelectorAll('#explanation tbody tr').length === 3")
    phone.wait_for_function("() => document.querySelector('#interval-note').textContent.length > 0")
    text = phone.inner_text("body")
    assert NEGATIVE_ZERO.search(text) is None, NEGATIVE_ZERO.search(text)
    assert "+0.00" not in text
    rows = {row.locator("td").first.inner_text(): row for row in phone.locator("#explanation tbody tr").all()}
    columns = {"woe_vs_rest": 1, "woe_vs_runner_up": 2, "woe_pathological_vs_benign": 3}
    for (node, column), value in tiny.items():
        cell = rows[f"{node.replace('_', ' ')} = {evidence[node]}"].locator("td").nth(columns[column])
        assert cell.inner_text() == f"{abs(value):.2f}"  # shown as zero, unsigned and uncoloured
        assert "neutral" in cell.get_attribute("class")
    assert phone.problems == []


# -- red flags, shared-mechanism notes, next tests in plain words --------------------------------------------
BULBAR = {"tongue_fasciculations": "yes", "bulbar_symptoms": "yes", "caffeine": "yes", "stress_anxiety": "yes"}
BENIGN = {"caffeine": "yes", "stress_anxiety": "yes"}
AXON_LOSS = {"weakness": "yes", "atrophy": "yes", "emg_fibrillations": "present"}


def _address(evidence: dict, setting: str = "primary_care") -> str:
    return f"#setting={setting}&" + "&".join(f"{k}={v}" for k, v in evidence.items())


def _if(outcome: dict, key: str) -> str:
    """One end of a test's range as the page words it: ``94.6% (if no, 67.4% likely)``."""
    return (
        f"{percent(outcome[key])} (if {outcome['state'].replace('_', ' ')}, {percent(outcome['probability'])} likely)"
    )


def _clauses(text: str) -> set[str]:
    return {c.strip() for c in text.split(";") if c.strip()}


def test_red_flags_show_near_the_top_of_a_phones_results_under_a_benign_leader(server, phone):
    from fasciculation_dx.network.red_flags import red_flags_present

    model = server.service.model("primary_care")
    assert model.priors.etiologies[model.posterior(BULBAR).index[0]].category == "benign"  # the leader is benign
    flags = red_flags_present(model.priors, BULBAR)
    assert [f["node"] for f in flags] == ["tongue_fasciculations", "bulbar_symptoms"]
    shared = set.intersection(*(_clauses(f["text"]) for f in flags))
    assert shared  # the guideline's sentence both flags repeat ("if MND is suspected, refer without delay")

    phone.goto(server.url + _address(BULBAR))
    phone.wait_for_selector("#red-flags:not([hidden]) li")
    block = phone.inner_text("#red-flags")
    assert phone.locator("#red-flags li").evaluate_all("ls => ls.map(l => l.dataset.node)") == [
        f["node"] for f in flags
    ]
    assert block.count(flags[0]["guideline"]) == 1  # one group for the guideline...
    for clause in shared:
        assert block.count(clause) == 1, clause  # ...its shared sentence said once, not once per finding
    for flag in flags:
        for clause in _clauses(flag["text"]) - shared:
            assert clause in block, clause
    source = model.priors.sources[flags[0]["source_id"]]
    assert source.citation in block
    assert phone.get_attribute("#red-flags .flag-source a", "href") == source.url
    assert "2 red flags" in phone.inner_text("#mini-flags")  # the summary bar says so while findings are entered

    # the block is on the first screen of results: the bar's button goes there
    phone.click("#mini-jump")
    phone.wait_for_function("() => document.querySelector('#mini-jump').textContent.startsWith('Findings')")
    bar = _rect(phone, "#mini")
    heading = _rect(phone, "#red-flags h3")
    first_group = _rect(phone, "#red-flags .flag-group")
    assert 0 <= heading["top"] and first_group["bottom"] <= bar["top"]
    assert _rect(phone, "#red-flags")["top"] < _rect(phone, "#split")["top"]  # above the benign/pathological split

    # a benign picture: no block, no marker
    phone.goto(server.url + _address(BENIGN))
    phone.wait_for_function("() => document.querySelectorAll('#explanation tbody tr').length === 2")
    assert red_flags_present(model.priors, BENIGN) == []
    assert phone.is_hidden("#red-flags") and phone.is_hidden("#mini-flags")
    assert phone.locator("#red-flags li").count() == 0
    assert phone.problems == []


def test_the_mechanism_note_sits_under_its_explanation_row(server, page):
    result = server.service.query({"evidence": AXON_LOSS, "setting": "primary_care"})
    notes = {n["node"]: n for n in result["explanation_notes"]}
    assert notes  # weakness, wasting and fibrillations: their shared motor axon loss is established

    page.goto(server.url + _address(AXON_LOSS))
    page.wait_for_function(
        "n => document.querySelectorAll('#explanation tr.mechanism-note').length === n", arg=len(notes)
    )
    placed = page.evaluate(
        """() => [...document.querySelectorAll('#explanation tr.mechanism-note')].map(tr => {
            const above = tr.previousElementSibling;
            return [tr.dataset.node, above.dataset.node, above.classList.contains('sub')];
        })"""
    )
    assert sorted(node for node, _, _ in placed) == sorted(notes)
    assert all(node == above and not sub for node, above, sub in placed)  # right under the row it explains
    for node, note in notes.items():
        text = page.inner_text(f"#explanation tr.mechanism-note[data-node='{node}']")
        assert text.startswith(f"{node.replace('_', ' ')} = {note['state']} adds little now")
        for mechanism, p in note["mechanisms"].items():
            assert f"{mechanism.replace('_', ' ')} ({percent(p)})" in text
        assert f"by {note['lr_before']:.3g}." in text  # the ratio counted before the others (3 figures, as LR)

    page.goto(server.url + _address({"weakness": "yes"}))
    page.wait_for_function("() => document.querySelectorAll('#explanation tbody tr').length === 1")
    assert server.service.query({"evidence": {"weakness": "yes"}})["explanation_notes"] == []
    assert page.locator("#explanation tr.mechanism-note").count() == 0
    assert page.problems == []


def test_next_tests_say_in_plain_words_how_far_each_could_move_the_probabilities(server, page):
    result = server.service.query({"evidence": AXON_LOSS, "setting": "primary_care", "top": 12})
    page.goto(server.url + _address(AXON_LOSS))
    page.wait_for_function("() => document.querySelectorAll('#next-tests tr.moves').length > 0")
    shown = page.locator("#next-tests tr.moves").evaluate_all("rs => rs.map(r => [r.dataset.node, r.innerText])")
    assert [node for node, _ in shown] == [row["node"] for row in result["next_tests"]][: len(shown)]
    rows = {row["node"]: row for row in result["next_tests"]}
    for node, text in shown:
        row = rows[node]
        low = min(row["outcomes"], key=lambda o: o["p_pathological"])
        high = max(row["outcomes"], key=lambda o: o["p_pathological"])
        assert low["p_pathological"] < high["p_pathological"]
        assert (
            f"P(pathological) from {percent(row['p_pathological_now'])} to between "
            f"{_if(low, 'p_pathological')} and {_if(high, 'p_pathological')}"
        ) in text
        assert f"P({row['leading'].replace('_', ' ')}) from {percent(row['p_leading_now'])} to between" in text
        likely = max(row["outcomes"], key=lambda o: o["probability"])
        assert text.endswith(
            f"Most likely result: {likely['state'].replace('_', ' ')} ({percent(likely['probability'])})."
        )
    assert NEGATIVE_ZERO.search(page.inner_text("#next-tests")) is None
    assert page.problems == []


def test_the_tables_do_not_scroll_sideways_on_a_phone(server, phone):
    evidence = {**AXON_LOSS, **BULBAR, "age_group": "~65_plus"}
    phone.goto(server.url + _address(evidence))
    phone.wait_for_function("() => document.querySelectorAll('#explanation tr.mechanism-note').length > 0")
    phone.wait_for_function("() => document.querySelectorAll('#next-tests tr.moves').length > 0")
    phone.wait_for_function("() => document.querySelector('#interval-note').textContent.length > 0")
    cards = phone.evaluate(
        """() => [...document.querySelectorAll('.card')].filter(c => c.offsetParent !== null)
            .map(c => [c.querySelector('h3').textContent, c.scrollWidth, c.clientWidth])"""
    )
    titles = [title for title, _, _ in cards]
    assert any(t.startswith("Why?") for t in titles) and "Suggested next findings" in titles
    assert any(t.startswith("Red flags present") for t in titles)
    for title, scroll, client in cards:
        assert scroll <= client, (title, scroll, client)
    # each explanation row keeps all its numbers, each captioned with its column
    first = phone.locator("#explanation tbody tr:not(.sub)").first
    captions = first.locator("td[data-label]").evaluate_all(
        "ts => ts.map(t => getComputedStyle(t, '::before').content)"
    )
    assert captions == ['"vs all others"', '"vs runner-up"', '"pathological vs benign"', '"LR"']
    assert phone.is_hidden("#explanation thead")
    fit = _overflow(phone)
    assert fit["scrollWidth"] <= fit["innerWidth"]
    assert phone.problems == []
