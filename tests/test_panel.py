"The control panel without a browser, through `ice_nb.panel`: Step, Abort during a Run, a failing step."
import pytest
import torch

from ice_nb.data import load_data
from ice_nb.panel import ICEPanel
from ice_nb.session import ICEConfig, PruningSession


@pytest.fixture(scope="module")
def data():
    return load_data("synthetic", val_size=200, synthetic_size=(600, 100))


def tiny_panel(data, background=True):
    "A panel on an untrained width-8 ResNet-20 that fine-tunes every step: three batches of 64 images."
    torch.manual_seed(0)
    config = ICEConfig(batch_size=64, decision_images=100, finetune_images=192, use_trigger=False, use_freeze=False,
                       base=0.01, delta=0.007)
    session = PruningSession("resnet20", data, ratio=0.5, config=config, device="cpu", model_kwargs=dict(width=8))
    return ICEPanel(session, background=background)


def click(panel, name):
    panel.buttons[name].click()
    assert panel.wait(timeout=120).busy is None, f"{name} did not finish"


@pytest.mark.parametrize("background", [False, True])
def test_two_steps_update_the_panel(data, background):
    panel = tiny_panel(data, background)
    click(panel, "step")
    click(panel, "step")
    assert len(panel.session.records) == 2
    assert panel.status.value.startswith("step 2/9 · layer1.1")
    points = [len(line.get_xydata()) for ax in panel.figures["timeline"].axes for line in ax.lines]
    assert max(points) == 2
    assert not panel.buttons["step"].disabled and not panel.buttons["run"].disabled and panel.buttons["abort"].disabled
    assert (panel.sweep_bar.value, panel.sweep_bar.max) == (2, 9)


def test_abort_during_a_run_stops_between_batches(data):
    panel = tiny_panel(data)
    def abort_after_first_batch(session):
        if session.progress.phase == "fine-tuning" and session.progress.batch == 1:
            panel.buttons["abort"].click()
    panel.session.listeners.append(abort_after_first_batch)
    panel.buttons["run"].click()
    assert panel.busy == "run" and panel.buttons["step"].disabled and not panel.buttons["abort"].disabled
    panel.wait(timeout=120)
    panel.session.listeners.remove(abort_after_first_batch)
    records = panel.session.records
    assert [(r.aborted, r.finetune_batches) for r in records] == [(True, 1)]
    assert panel.status.value.startswith("aborted in step 1") and not panel.buttons["run"].disabled
    click(panel, "step")
    assert [(r.aborted, r.finetune_batches) for r in panel.session.records[1:]] == [(False, 3)]


def test_a_failing_step_shows_its_error_and_the_next_step_works(data, monkeypatch):
    panel = tiny_panel(data)
    session = panel.session
    real = session.evaluate_decision
    calls = []
    def fails_once(**kwargs):
        calls.append(1)
        if len(calls) == 2:   # the first call measures the dense model; the second is the step's
            raise RuntimeError("evaluation failed") from OSError("device lost")
        return real(**kwargs)
    monkeypatch.setattr(session, "evaluate_decision", fails_once)
    click(panel, "step")
    assert session.records == [] and isinstance(panel.error, RuntimeError)
    assert "step failed in step 1 (layer1.0)" in panel.error_area.value
    assert "<b>RuntimeError</b>: evaluation failed<br>caused by <b>OSError</b>: device lost" in panel.error_area.value
    assert not panel.buttons["step"].disabled and session.progress.phase == "idle"
    click(panel, "step")
    assert len(session.records) == 1 and panel.error is None and panel.error_area.value == ""
