"""The README's picture: the panel in JupyterLab (headless Chromium, Playwright) on a real run.

The README's ten-line notebook on Fashion-MNIST with `make demo`'s cached ResNet-56: Probe, three Steps
(the third steered: its fine-tune skipped, its unit pruned at 0.3), then a picture of the panel with
its timeline. Needs `make demo` (data and the cached model) and `make browser` (Chromium) first.

    .venv/bin/python docs/screenshot.py            # writes docs/images/panel.png
"""
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = f"""\
from ice_nb.data import load_data
from ice_nb.train import pretrain
from ice_nb.session import ICEConfig, PruningSession
from ice_nb.panel import ICEPanel

data = load_data("fashion_mnist", {str(ROOT / "data")!r}, val_size=5000)
dense, record = pretrain("resnet56", data, epochs=2, cache_dir={str(ROOT / "runs" / "dense")!r})
session = PruningSession(dense, data, ratio=0.6, criterion="l1", config=ICEConfig(finetune_images=1280))
ICEPanel(session)"""


def main(out=ROOT / "docs" / "images" / "panel.png"):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None: sys.exit("no Chromium: run `make browser` first")
    with tempfile.TemporaryDirectory() as work:
        cell = dict(cell_type="code", id="readme", metadata={}, source=NOTEBOOK, outputs=[], execution_count=None)
        kernel = dict(name="python3", display_name="Python 3 (ipykernel)", language="python")
        Path(work, "readme.ipynb").write_text(json.dumps(dict(cells=[cell], metadata=dict(kernelspec=kernel), nbformat=4, nbformat_minor=5)))
        port = 8899
        server = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--allow-root", "--no-browser", "--ip", "127.0.0.1",
                                   "--port", str(port), "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={work}"],
                                  cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"{url}/api/status", timeout=2); break
                except OSError: time.sleep(0.5)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1400, "height": 1600})
                page.goto(f"{url}/lab/tree/readme.ipynb?reset")
                page.locator('.jp-DebuggerBugButton[aria-disabled="false"]').wait_for(timeout=120_000)
                page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
                page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()
                button = lambda label: page.locator(".widget-button", has_text=re.compile(rf"^\s*{label}\s*$"))
                status = lambda pattern: page.locator(".widget-html-content", has_text=re.compile(pattern)).first.wait_for(timeout=300_000)
                button("Step").wait_for(timeout=300_000)
                button("Probe").click(); status(r"^set up: 27 units")
                for n in (1, 2):
                    button("Step").click(); status(rf"^step {n}/27 · \S+: ")   # the status line, not the step's progress
                label = page.locator(".widget-label", has_text=re.compile(r"^next fine-tune$"))
                page.locator(".widget-inline-hbox", has=label).locator("select").select_option(label="skip")
                ratio = page.locator(".widget-inline-hbox", has=page.locator(".widget-label", has_text=re.compile(r"^ratio$"))).locator("input")
                ratio.fill("0.3"); ratio.press("Enter")
                button("Steer").click(); status(r"will run steered")
                button("Step").click(); status(r"^step 3/27 · \S+: ")
                page.locator(".lm-TabBar-tabLabel, .p-TabBar-tabLabel", has_text=re.compile(r"^Timeline$")).first.click()
                page.locator(".widget-output img").first.wait_for(timeout=60_000)
                time.sleep(2)   # the timeline's redraw
                page.locator(".jp-OutputArea-output", has=button("Step")).screenshot(path=str(out))
                browser.close()
        finally:
            server.kill()
            for child in subprocess.run(["pgrep", "-f", work], capture_output=True, text=True).stdout.split():
                subprocess.run(["kill", "-9", child])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
