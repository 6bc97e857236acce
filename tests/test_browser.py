"""The panel in a real browser: JupyterLab runs a notebook with a tiny pruning session and its `ICEPanel`;
Chromium, driven by Playwright, clicks Step and sees the timeline and the status change; saves a run and loads it
in a fresh kernel; aborts a run; steers a step and undoes it.

Skipped only when there is no Chromium (`make browser` installs Debian's) or no Playwright (`.[dev]`)."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

import pytest

from conftest import ROOT
from panel_notebook import write_panel_notebook

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = ROOT / "tests" / "artifacts"
NOTIFICATIONS = "@jupyterlab/apputils-extension/notification.jupyterlab-settings"  # the news pop-up, off

if CHROMIUM is None:
    pytest.skip("no Chromium executable (chromium / chromium-browser) on PATH: run `make browser` "
                "(or `apt-get install -y chromium`) to run the browser test", allow_module_level=True)
try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:
    pytest.skip("playwright is not importable: `pip install -e \".[dev]\"`", allow_module_level=True)


def free_port() -> int:
    "A TCP port on 127.0.0.1 that nothing listens on right now."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url, server, log, timeout=60):
    "Poll the server's /api/status until it answers; fail with its log if it exits or never answers."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"jupyter lab did not answer at {url} within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def work(tmp_path):
    "The lab's root dir and the kernel's cwd: it holds the panel notebook, and what the panel saves."
    work = tmp_path / "work"
    work.mkdir()
    write_panel_notebook(work / "panel.ipynb")
    return work


@pytest.fixture
def lab(tmp_path, work):
    "JupyterLab serving `work`, token-less on a free local port; yields its URL."
    home = tmp_path / "jupyter"
    settings = home / "settings" / NOTIFICATIONS
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    port, log = free_port(), tmp_path / "lab.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--allow-root", "--no-browser", "--ip", "127.0.0.1",
           "--port", str(port), "--ServerApp.port_retries=0", "--ServerApp.token=", "--ServerApp.password=",
           f"--ServerApp.root_dir={work}"]
    with open(log, "w") as out:
        server = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, server, log)
        yield url
    finally:  # even when the test failed
        stop(server)


def stop(server):
    "Kill the lab server and its kernels (jupyter_client starts each kernel in a session of its own)."
    import psutil  # a dependency of ipykernel, so there wherever jupyter lab runs
    kernels = psutil.Process(server.pid).children(recursive=True) if server.poll() is None else []
    for process in [*kernels, server]:  # throw-away: nothing to save, so no graceful shutdown (3 s) to wait for
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    server.wait()


@pytest.fixture
def page():
    "A headless Chromium page with a tall viewport, so that a screenshot shows the whole panel."
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 2000})
        finally:
            browser.close()


def notebook_state(page) -> str:
    "The cells' prompts ([*] while running) and what they printed, for failure messages."
    prompts = page.locator(".jp-InputPrompt").all_inner_texts()
    return f"prompts {prompts}\n" + "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())[-3000:]


def wait(page, what, action):
    "Run a Playwright wait; when it times out, fail saying `what` did not happen, with the notebook's state."
    try:
        return action()
    except PlaywrightTimeout:
        pytest.fail(f"{what}; the notebook: {notebook_state(page)}")


RUNNING = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))"
PLOT_CHANGED = """before => {
    const img = document.querySelector('.widget-output img');  // the open tab's plot: the timeline
    return img !== null && img.src !== '' && img.src !== before;
}"""
# set window.seen once some element's text contains `text`, however briefly it shows (a fine-tuning lasts a blink)
WATCH = """text => {
    window.seen = false;
    new MutationObserver((records, observer) => {
        if (!records.some(r => (r.target.textContent || '').includes(text))) return;
        window.seen = true;
        observer.disconnect();
    }).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def menu(page, name, command):
    "Click menu `name` of the menu bar, then its item that runs `command`."
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{name}$")).click()
    page.locator(f'li.lm-Menu-item[data-command="{command}"]').click()


def wait_for_run(page):
    "Wait until Run all has started and then finished every cell, and the panel shows."
    wait(page, "Run all started no cell", lambda: page.wait_for_function(RUNNING, timeout=60_000))
    # a generous limit: pretraining in the kernel is slow when the CPU is shared; an idle 2-core CPU needs far less
    wait(page, "the notebook did not finish", lambda: page.wait_for_function(f"() => !({RUNNING})()", timeout=300_000))
    wait(page, "the panel's Step button never showed", lambda: button(page, "Step").wait_for(timeout=30_000))


def open_panel(page, url):
    "Open the panel notebook, wait for its kernel, run every cell from the Run menu and wait for the panel."
    page.goto(f"{url}/lab/tree/panel.ipynb?reset")
    # "idle" shows before the kernel's websocket is up; the debugger button is enabled only after (as in galata)
    ready = '.jp-Notebook-ExecutionIndicator[data-status="idle"]', '.jp-DebuggerBugButton[aria-disabled="false"]'
    for selector in ready:
        wait(page, "the notebook's kernel did not start", lambda: page.locator(selector).wait_for(timeout=60_000))
    menu(page, "Run", "runmenu:run-all")
    wait_for_run(page)


def restart_and_run_all(page):
    "Kernel > Restart Kernel and Run All Cells…, confirmed: a fresh kernel and a new panel."
    menu(page, "Kernel", "runmenu:restart-and-run-all")
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    wait_for_run(page)


def button(page, label):
    "The panel's button labelled `label`."
    return page.locator(".widget-button", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))


def field(page, description):
    "The input (a Text's <input>, a Dropdown's <select>) of the panel's widget described `description`."
    label = page.locator(".widget-label", has_text=re.compile(rf"^{re.escape(description)}$"))
    return page.locator(".widget-inline-hbox", has=label).locator("input, select")


def shows(page, pattern, timeout=180_000):
    "Wait until one of the panel's texts (status, progress labels) matches the regex `pattern`; fail early on an error."
    failed = "the session is usable"  # the status when an action raised (its error shows under it)
    text = page.locator(".widget-html-content", has_text=re.compile(f"(?:{pattern})|{failed}")).first
    wait(page, f"the panel never showed {pattern!r}", lambda: text.wait_for(timeout=timeout))
    if not re.search(pattern, text.inner_text()):
        pytest.fail(f"the panel showed {text.inner_text()!r}, not {pattern!r}; the notebook: {notebook_state(page)}")


@contextmanager
def screenshot(page, name):
    "Screenshot the page into tests/artifacts: `name`.png when the block passes, `name`-failure.png when it fails."
    ARTIFACTS.mkdir(exist_ok=True)
    for old in (f"{name}.png", f"{name}-failure.png"):
        (ARTIFACTS / old).unlink(missing_ok=True)
    try:
        yield
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    except BaseException:  # pytest.fail's exception included
        page.screenshot(path=ARTIFACTS / f"{name}-failure.png", full_page=True)
        raise


STEP_1 = r"^step 1/\d+ · \S+: "  # the status after the first step (the step label has no colon after the unit)


def test_step_button_advances_the_panel(lab, page):
    with screenshot(page, "panel"):
        open_panel(page, lab)
        plot = page.locator(".widget-output img").first
        wait(page, "the panel showed no timeline plot", lambda: plot.wait_for(timeout=30_000))
        before = plot.get_attribute("src")

        button(page, "Step").click()
        wait(page, "the timeline plot did not change after Step",
             lambda: page.wait_for_function(PLOT_CHANGED, arg=before, timeout=180_000))
        shows(page, r"^step 1/\d+ · layer1\.0: [\d.]+ % after pruning", timeout=10_000)


def test_save_then_load_in_a_fresh_kernel(lab, work, page):
    with screenshot(page, "panel-save-load"):
        open_panel(page, lab)
        button(page, "Step").click()
        shows(page, STEP_1)
        field(page, "folder").fill("saved")
        button(page, "Save").click()
        shows(page, r"^saved ")
        files = {"checkpoint.pt", "dense.pt", "pruned.pt", "records.json"}
        assert files <= {f.name for f in (work / "saved").iterdir()}, f"Save wrote {sorted((work / 'saved').iterdir())}"

        restart_and_run_all(page)
        shows(page, r"^units: press Probe")  # the new panel's session has done nothing
        field(page, "folder").fill("saved")
        button(page, "Load checkpoint").click()
        shows(page, r"^loaded saved: 1 steps done")
        shows(page, r"^units 1/\d+ pruned", timeout=10_000)


def test_abort_shows_as_aborted(lab, page):
    with screenshot(page, "panel-abort"):
        open_panel(page, lab)
        page.evaluate(WATCH, "fine-tuning batch")
        button(page, "Run").click()
        wait(page, "the run never showed a fine-tuning batch",
             lambda: page.wait_for_function("() => window.seen", timeout=180_000))
        button(page, "Abort").click()
        shows(page, r"^aborted (in|after) step \d+")


def test_steering_skips_the_next_fine_tune_and_undo_takes_the_step_back(lab, page):
    # thre=0: without steering every step is fine-tuned, so "not fine-tuned" is the steering's doing
    with screenshot(page, "panel-steer"):
        open_panel(page, lab)
        field(page, "next fine-tune").select_option(label="skip")
        button(page, "Steer").click()
        shows(page, r"^step 1\b.* will run steered: fine-tune skipped")
        button(page, "Step").click()
        shows(page, STEP_1 + r".*, not fine-tuned · steered: fine-tune skipped")
        button(page, "Undo step").click()
        shows(page, r"^undid step 1 \(\S+\): Step prunes it again")
        shows(page, r"^units 0/\d+ pruned", timeout=10_000)
