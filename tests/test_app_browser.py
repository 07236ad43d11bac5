"""End to end in a real browser: ``streamlit run app.py`` on a loopback port, driven by headless Chromium.

One server for the module (its models load once); each test is its own browser session. The last test walks a
whole session (open a scenario, optimise, compare, download) and then reads the server's log: any warning or
traceback logged while these sessions ran fails it.

Needs Debian's Chromium at /usr/bin/chromium and the ``playwright`` Python package (never ``playwright install``:
the browser comes from Debian). Skipped, saying why, if either is missing:

    apt-get update && apt-get install -y chromium chromium-driver
    pip install playwright
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

# One Streamlit server and one Chromium at a time: both tests on the same xdist worker (--dist loadgroup), since two
# browsers at once on two shared cores would make the UI time-outs the slowest test's.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("browser")]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_S = 90
UI_TIMEOUT_MS = 60_000
SCREENSHOT_COPY = Path("/tmp/app_screenshot.png")
# Each log line names its level, so a warning is found whatever it says.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_PROBLEM = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) |Traceback \(most recent call last\)|"
                         r"Stack \(most recent call last\)|\b\w+Warning: ", re.MULTILINE)
SCENARIO = "North West: Cheshire and Merseyside with Greater Manchester"  # today's ICBs: optimised in seconds


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (start_new_session below)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=15)


@pytest.fixture
def sync_api():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium chromium-driver")
    try:
        from playwright import sync_api
    except ImportError:
        pytest.skip("the playwright Python package is missing: pip install playwright (no 'playwright install')")
    return sync_api


@pytest.fixture(scope="module")
def server_log(tmp_path_factory) -> Path:
    """Where the module's server writes everything it logs."""
    return tmp_path_factory.mktemp("server") / "streamlit.log"


@pytest.fixture(scope="module")
def server(server_log):
    """``streamlit run app.py`` on a free loopback port with its own scenario store, shared by the module's tests
    (one session each); always stopped afterwards."""
    pytest.importorskip("streamlit")
    tmp_path = server_log.parent
    port = _free_port()
    env = dict(os.environ, ICBSIM_STORE=str(tmp_path / "scenarios.sqlite"), PYTHONUNBUFFERED="1")
    log = open(server_log, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", "--logger.level", "info", "--logger.messageFormat", LOG_FORMAT],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}: "
                            f"{(tmp_path / 'streamlit.log').read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(url + "_stcore/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer on {url} within {SERVER_START_S} s")
            time.sleep(0.5)
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200
        yield url
    finally:
        _stop(proc)
        log.close()


def test_move_blocks_and_download_in_a_real_browser(sync_api, server, tmp_path):
    expect = sync_api.expect
    t0 = time.monotonic()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200}, accept_downloads=True)
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(server, wait_until="domcontentloaded")
            expect(page).to_have_title("ICB merger scenario simulator", timeout=UI_TIMEOUT_MS)

            footprints = (page.get_by_test_id("stMetric").filter(has_text="Footprints")
                          .get_by_test_id("stMetricValue"))
            expect(footprints).to_have_text("36", timeout=UI_TIMEOUT_MS)  # today's 36 ICBs, once the model loads

            # Move two blocks into a new footprint: type in the multiselect, Enter picks the match.
            blocks = page.get_by_test_id("stMultiSelect").filter(has_text="Blocks to move")
            for name in ("Cheshire and Merseyside", "Greater Manchester"):
                blocks.locator("input").fill(name)
                expect(page.get_by_role("option").first).to_contain_text(name)
                blocks.locator("input").press("Enter")
                expect(blocks).to_contain_text(name)
            page.keyboard.press("Escape")
            page.get_by_label("Name of a new footprint").fill("North West merged")
            page.get_by_role("button", name="Move blocks").click()
            expect(footprints).to_have_text("35", timeout=UI_TIMEOUT_MS)
            expect(page.get_by_text("Moved 2 block(s) to North West merged.")).to_be_visible()
            expect(page.get_by_test_id("stException")).to_have_count(0)

            screenshot = tmp_path / "app_screenshot.png"
            page.wait_for_timeout(1500)  # let the map redraw its colours
            page.screenshot(path=str(screenshot), full_page=False)
            shutil.copyfile(screenshot, SCREENSHOT_COPY)
            assert screenshot.stat().st_size > 10_000

            # Hovering a block shows its tooltip as lines of text (no HTML tags showing).
            chart = page.get_by_test_id("stDeckGlJsonChart").first
            chart.scroll_into_view_if_needed()
            box = chart.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2 - 30, box["y"] + box["height"] / 2 - 30)
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=5)  # the Midlands
            tooltip = page.locator(".deck-tooltip").first  # the main map (the Compare tab draws two more)
            expect(tooltip).to_contain_text("Footprint: ", timeout=UI_TIMEOUT_MS)
            text = tooltip.inner_text()
            assert "<br" not in text and "Population: " in text and len(text.strip().splitlines()) >= 5, text
            page.mouse.move(5, 5)

            # The last tab: prepare downloads, then download the dissolved footprints.
            tab = page.get_by_role("tab", name="Save, open, download")
            tab.click()
            expect(tab).to_have_attribute("aria-selected", "true")
            page.get_by_role("button", name="Prepare downloads").click()
            download_button = page.get_by_role("button", name="Download footprints (GeoJSON)")
            expect(page.get_by_test_id("stDownloadButton")).to_have_count(5, timeout=UI_TIMEOUT_MS)
            expect(tab).to_have_attribute("aria-selected", "true")  # the rerun keeps the user on this tab
            expect(download_button).to_be_visible()
            with page.expect_download(timeout=UI_TIMEOUT_MS) as info:
                download_button.click()
            download = info.value
            assert download.suggested_filename == "footprints.geojson"
            path = tmp_path / "footprints.geojson"
            download.save_as(str(path))
            doc = json.loads(path.read_text(encoding="utf-8"))
            assert doc["type"] == "FeatureCollection"
            assert len(doc["features"]) == 35
            merged = [f for f in doc["features"] if f["properties"]["footprint"] == "North West merged"]
            assert len(merged) == 1 and set(merged[0]["properties"]["members"]) == {"E54000008", "E54000057"}
        finally:
            browser.close()
    print(f"browser workflow: {time.monotonic() - t0:.1f} s")


def test_cancel_stops_the_optimiser_and_keeps_the_map(sync_api, server):
    """At place level the optimiser runs for several seconds (a sub-ICB solve now ends in about one): Cancel stops
    it and the map stays as it was."""
    expect = sync_api.expect
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(server, wait_until="domcontentloaded")
            footprints = (page.get_by_test_id("stMetric").filter(has_text="Footprints")
                          .get_by_test_id("stMetricValue"))
            expect(footprints).to_have_text("36", timeout=UI_TIMEOUT_MS)
            page.get_by_text("Place (sub-ICB x council, 328)").click()
            expect(page.get_by_text("Place (sub-ICB x council, 328) building blocks")).to_be_visible(
                timeout=UI_TIMEOUT_MS)
            page.get_by_role("button", name="Run optimiser").click()
            cancel = page.get_by_role("button", name="Cancel")
            expect(cancel).to_be_visible(timeout=UI_TIMEOUT_MS)
            cancel.click()
            expect(cancel).to_have_count(0, timeout=UI_TIMEOUT_MS)  # the run was stopped and the page redrawn
            page.wait_for_timeout(2000)
            expect(footprints).to_have_text("36")
            expect(page.get_by_text("Optimiser (")).to_have_count(0)
            expect(page.get_by_test_id("stException")).to_have_count(0)
        finally:
            browser.close()


def test_a_whole_session_logs_no_warning(sync_api, server, server_log, tmp_path):
    """Open a scenario from the sidebar, optimise it, compare, download: the server logs no warning and no
    traceback (this session's, or those of the tests before it on the same server)."""
    expect = sync_api.expect
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200}, accept_downloads=True)
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(server, wait_until="domcontentloaded")
            footprints = (page.get_by_test_id("stMetric").filter(has_text="Footprints")
                          .get_by_test_id("stMetricValue"))
            expect(footprints).to_have_text("36", timeout=UI_TIMEOUT_MS)

            # A shipped scenario from the sidebar: its start (two ICBs merged) and its parameters come with it.
            page.get_by_test_id("stSelectbox").filter(has_text="Start from a scenario").click()
            page.get_by_role("option", name=SCENARIO).click()
            page.get_by_role("button", name="Open scenario").click()
            expect(page.get_by_text(f"Opened the scenario {SCENARIO}")).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(footprints).to_have_text("35", timeout=UI_TIMEOUT_MS)

            # Optimise: once the run ends, its Cancel button and progress bar are gone without another click.
            page.get_by_role("button", name="Run optimiser").click()
            expect(page.get_by_text("Optimiser (exact): optimal")).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(page.get_by_role("button", name="Cancel")).to_have_count(0, timeout=UI_TIMEOUT_MS)
            expect(page.get_by_test_id("stProgress")).to_have_count(0)
            expect(footprints).not_to_have_text("35", timeout=UI_TIMEOUT_MS)  # the headline follows the message
            optimised = int(footprints.inner_text())
            assert optimised < 35

            # Compare: the result beside the start, and this map against today's official one.
            tab = page.get_by_role("tab", name="Compare")
            tab.click()
            for text in ("The optimiser's result beside your starting map", "Pairwise co-assignment of today's ICBs"):
                expect(page.get_by_text(text)).to_be_visible(timeout=UI_TIMEOUT_MS)

            # Download the footprint table: its figures stay plain numbers for other tools.
            tab = page.get_by_role("tab", name="Save, open, download")
            tab.click()
            page.get_by_role("button", name="Prepare downloads").click()
            button = page.get_by_role("button", name="Download footprint table (CSV)")
            expect(button).to_be_visible(timeout=UI_TIMEOUT_MS)
            with page.expect_download(timeout=UI_TIMEOUT_MS) as info:
                button.click()
            rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
            assert len(rows) == optimised
            assert all(float(r["population"]) > 100_000 and float(r["at_stake_gbp"]) >= 0 for r in rows)
            expect(page.get_by_test_id("stException")).to_have_count(0)
        finally:
            browser.close()
    log = server_log.read_text(encoding="utf-8", errors="replace")
    assert "You can now view your Streamlit app" in log  # the server's own log, read through this session
    problems = [m.start() for m in LOG_PROBLEM.finditer(log)]
    assert not problems, "the server logged a warning or a traceback:\n" + log[max(problems[0] - 200, 0):][:3000]
