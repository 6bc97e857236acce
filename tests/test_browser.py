"""The panel in a real browser: JupyterLab runs a notebook with a tiny pruning session and its `ICEPanel`;
Chromium, driven by Playwright, clicks Step and sees the timeline and the status change.

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
    from playwright.sync_api import expect, sync_playwright
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
def lab(tmp_path):
    "JupyterLab serving a temp dir that holds the panel notebook, token-less on a free local port; yields its URL."
    work, home = tmp_path / "work", tmp_path / "jupyter"
    work.mkdir()
    write_panel_notebook(work / "panel.ipynb")
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


def run_all(page, url):
    "Open the panel notebook, wait for its kernel, and run every cell from the Run menu."
    page.goto(f"{url}/lab/tree/panel.ipynb?reset")
    # "idle" shows before the kernel's websocket is up; the debugger button is enabled only after (as in galata)
    ready = '.jp-Notebook-ExecutionIndicator[data-status="idle"]', '.jp-DebuggerBugButton[aria-disabled="false"]'
    for selector in ready:
        wait(page, "the notebook's kernel did not start", lambda: page.locator(selector).wait_for(timeout=60_000))
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()


RUNNING = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))"
PLOT_CHANGED = """before => {
    const img = document.querySelector('.widget-output img');  // the open tab's plot: the timeline
    return img !== null && img.src !== '' && img.src !== before;
}"""


def test_step_button_advances_the_panel(lab, page):
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ("panel.png", "panel-failure.png"):
        (ARTIFACTS / old).unlink(missing_ok=True)
    try:
        run_all(page, lab)
        step = page.locator(".widget-button", has_text=re.compile(r"^\s*Step\s*$"))
        panel = page.locator(".jp-OutputArea-output").filter(has=step)
        wait(page, "Run all started no cell", lambda: page.wait_for_function(RUNNING, timeout=30_000))
        # a generous limit: pretraining in the kernel is slow when the CPU is shared; an idle 2-core CPU needs far less
        wait(page, "the notebook did not finish", lambda: page.wait_for_function(f"() => !({RUNNING})()", timeout=300_000))
        wait(page, "the panel's Step button never showed", lambda: step.wait_for(timeout=10_000))
        plot = page.locator(".widget-output img").first
        wait(page, "the panel showed no timeline plot", lambda: plot.wait_for(timeout=30_000))
        before = plot.get_attribute("src")

        step.click()
        wait(page, "the timeline plot did not change after Step",
             lambda: page.wait_for_function(PLOT_CHANGED, arg=before, timeout=180_000))
        expect(panel).to_contain_text(re.compile(r"step 1/\d+ · layer1\.0: [\d.]+ % after pruning"), timeout=10_000)
        page.screenshot(path=ARTIFACTS / "panel.png", full_page=True)
    except BaseException:  # pytest.fail's exception included
        page.screenshot(path=ARTIFACTS / "panel-failure.png", full_page=True)
        raise
