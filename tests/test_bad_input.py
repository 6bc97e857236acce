"""Bad input at every public entry point (PruningSession, AutoTuner, ICEPanel, the `ice-nb` command).

Each case gets a clear error that says what to do, or a documented recovery, and none damages a run directory:
after every bad call its checkpoint.pt still loads with `safe_load` and is byte for byte what it was before.
"""
import copy
import io
import math
import re
import shutil
from dataclasses import asdict, replace

import pytest
import torch
import torch.nn as nn

from conftest import run_cli
from ice_nb import cli
from ice_nb.checkpoint import CheckpointError, safe_load
from ice_nb.config import IceNbError
from ice_nb.data import Batches, DataError, TensorImages, load_data
from ice_nb.models import create_model_for
from ice_nb.panel import ICEPanel
from ice_nb.session import ICEConfig, PruningSession
from ice_nb.train import NonFiniteLossError, atomic_save, dense_file, evaluate
from ice_nb.tune import AutoTuner, ice_session_factory

# fine-tune after every step (use_trigger=False) on three batches; decide on 100 images; probe on one batch
CONFIG = ICEConfig(batch_size=64, decision_images=100, finetune_images=192, probe_images=64, use_trigger=False,
                   base=0.01, delta=0.007)
SETTINGS = "[ice_nb]\nval_size = 300\ndevice = cpu\ndataset = synthetic\nseed = 0\n"   # `ice-nb` loads `data`


# ---------------------------------------------------------------------------------------------------- helpers

def new_session(data, model="resnet20", config=CONFIG, **kwargs) -> PruningSession:
    "A session on a width-8 ResNet-20 (built by name unless `model` is a module)."
    torch.manual_seed(0)
    return PruningSession(model, data, 0.5, config=config, device="cpu", model_kwargs=dict(width=8), **kwargs)


def strip(record) -> dict:
    "A step record without its timings."
    return {k: v for k, v in asdict(record).items() if k != "seconds"}


def weights(model: nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)


def assert_intact(run_dir, original):
    "checkpoint.pt in `run_dir` loads with safe_load and is byte for byte the one in `original`."
    safe_load(run_dir / "checkpoint.pt", "checkpoint")
    assert (run_dir / "checkpoint.pt").read_bytes() == (original / "checkpoint.pt").read_bytes(), "checkpoint.pt changed"
    assert not list(run_dir.glob(".*.tmp")), "a half-written file was left behind"


def once_at_batch(batch: int, action):
    "A session listener that calls `action(session)` once, after fine-tuning batch `batch`."
    fired = []
    def listen(session):
        if not fired and session.progress.phase == "fine-tuning" and session.progress.batch == batch:
            fired.append(True)
            action(session)
    return listen


def poison(session):
    "Fill the classifier's weights with NaN: the next batch's loss is NaN."
    with torch.no_grad(): session.model.fc.weight.fill_(math.nan)


def interrupt(session):
    raise KeyboardInterrupt


class RunsCode:
    "Unpickling this creates the file `marker`: what a malicious checkpoint would do, made visible."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (open, (self.marker, "w"))


def write_evil(path, marker, kind="checkpoint"):
    "An ice_nb-looking file whose unpickling runs code."
    torch.save({"format": f"ice_nb.{kind}", "payload": RunsCode(marker)}, path)


class Relabelled(torch.utils.data.Dataset):
    "A dataset (not a TensorImages, so ImageData cannot check it) whose labels from index `start` on are `label`."
    def __init__(self, dataset, start: int, label: int): self.dataset, self.start, self.label = dataset, start, label
    def __len__(self): return len(self.dataset)
    def __getitem__(self, i):
        x, y = self.dataset[i]
        return x, (torch.tensor(self.label) if i >= self.start else y)


class FirstChannel(torch.utils.data.Dataset):
    "A dataset whose images have one channel where the data promises three."
    def __init__(self, dataset): self.dataset = dataset
    def __len__(self): return len(self.dataset)
    def __getitem__(self, i):
        x, y = self.dataset[i]
        return x[:1], y


def one_line_error(code: int, err: str, *fragments):
    "An `ice-nb` failure: exit status 1 and one line on stderr, holding each of `fragments`."
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("ice-nb: error:"), (code, err)
    for fragment in fragments: assert fragment in lines[0], lines[0]


def ice_nb(capsys, *argv) -> tuple[int, str]:
    "Run `ice-nb argv` in this process (the console script's code path); returns (exit status, stderr)."
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def data():
    return load_data("synthetic", val_size=300)


@pytest.fixture(scope="module")
def dense(data):
    "An untrained width-8 ResNet-20 (the cases here need a model, not an accurate one)."
    torch.manual_seed(0)
    return create_model_for(data, "resnet20", width=8)


@pytest.fixture(scope="module")
def saved_run(data, tmp_path_factory):
    "A run directory with two of the nine steps done. Tests change only their copy of it (`run_dir`)."
    run_dir = tmp_path_factory.mktemp("saved") / "run"
    session = new_session(data, run_dir=run_dir)
    for _ in range(2): session.step()
    return run_dir


@pytest.fixture
def run_dir(saved_run, tmp_path):
    return shutil.copytree(saved_run, tmp_path / "run")


@pytest.fixture(scope="module")
def next_step(data, saved_run, tmp_path_factory):
    "What step 3 records and leaves in the weights when the saved run is continued without trouble."
    session = PruningSession.load(shutil.copytree(saved_run, tmp_path_factory.mktemp("next") / "run"), data, device="cpu")
    return strip(session.step()), weights(session.model)


@pytest.fixture(scope="module")
def first_step(data, dense):
    "The first record of a session on `dense` as given: training mode, on the CPU, not wrapped."
    return strip(new_session(data, copy.deepcopy(dense)).step())


def test_the_malicious_pickle_does_run_code_when_loaded_unsafely(tmp_path):
    "The payload the tests below feed ice_nb is live: without weights_only it creates its marker."
    write_evil(tmp_path / "evil.pt", tmp_path / "pwned")
    torch.load(tmp_path / "evil.pt", weights_only=False)["payload"].close()
    assert (tmp_path / "pwned").exists()


# ---------------------------------------------------------------------------------------------------- PruningSession: arguments

@pytest.mark.parametrize("change, error, message", [
    (dict(model=42), TypeError, "model must be an nn.Module or a model name, got int"),
    (dict(model="resnet21"), ValueError, "unknown model 'resnet21' (did you mean ['resnet32', 'resnet20'"),
    (dict(data="synthetic"), TypeError, "data must be an ImageData (from ice_nb.data.load_data), got str"),
    (dict(config=dict(thre=1.5)), TypeError, "config must be an ICEConfig, got dict"),
    (dict(criterion="l3"), ValueError, "unknown criterion 'l3'; known: l1"),
    (dict(ratio="0.5"), ValueError, "ratio must be in (0, 1), got '0.5'"),
    (dict(device="gpu"), ValueError, "device 'gpu' is not one of auto, cpu, cuda, cuda:N, mps"),
], ids=["model-int", "model-name", "data-str", "config-dict", "criterion", "ratio-str", "device"])
def test_session_arguments_of_the_wrong_kind_are_named(data, change, error, message):
    args = dict(model="resnet20", data=data, ratio=0.5, config=CONFIG, device="cpu", model_kwargs=dict(width=8)) | change
    with pytest.raises(error, match=re.escape(message)) as raised:
        PruningSession(**args)
    assert isinstance(raised.value, IceNbError), type(raised.value).__mro__   # the CLI shows these in one line


@pytest.mark.parametrize("ratio", [0, 1, -0.2, 1.5, math.nan, math.inf, True])
def test_session_ratio_outside_0_1_is_refused(data, ratio):
    with pytest.raises(ValueError, match=re.escape(f"ratio must be in (0, 1), got {ratio!r}")):
        PruningSession("resnet20", data, ratio, config=CONFIG, device="cpu", model_kwargs=dict(width=8))


@pytest.mark.parametrize("field, value", [("decision_images", 0), ("finetune_images", -1), ("finetune_images", math.nan),
                                          ("probe_images", 1.5), ("batch_size", 1.5)])
def test_config_refuses_bad_image_counts_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"ICEConfig.{field}"):
        ICEConfig(**{field: value})


# ---------------------------------------------------------------------------------------------------- data

def test_an_empty_split_or_loader_is_refused_where_it_is_made(data, dense):
    empty = TensorImages(torch.zeros(0, 3, 16, 16, dtype=torch.uint8), torch.zeros(0))
    with pytest.raises(DataError, match="the val split of synthetic is empty; check the data files or the split sizes"):
        replace(data, val=empty)
    with pytest.raises(DataError, match="the dataset is empty"):
        Batches(empty)
    with pytest.raises(ValueError, match="evaluate got no batches: the loader is empty"):
        evaluate(dense, [])
    with pytest.raises(DataError, match="selects none; ask for a larger share"):
        AutoTuner(ice_session_factory(dense, config=CONFIG, device="cpu"), data, search_fraction=(1e-5, 0.5))


def test_images_of_the_wrong_shape_fail_at_setup_saying_how_to_fix(data):
    gray = replace(data, train=FirstChannel(data.train), val=FirstChannel(data.val), test=FirstChannel(data.test),
                   in_channels=1, mean=(0.5,), std=(0.25,))
    session = new_session(gray, model=create_model_for(data, "resnet20", width=8))   # a 3-channel model, 1-channel data
    with pytest.raises(ValueError, match=re.escape("the model takes 3-channel images but the batch has shape "
                                                   "(1, 1, 16, 16); build the model with in_channels=1")):
        session.setup()
    assert (session.ready, session.records, session.next_unit) == (False, [], 0)


def test_image_data_refuses_images_that_do_not_match_in_channels(data):
    gray = TensorImages(data.val.images[:, :1].contiguous(), data.val.labels)
    with pytest.raises(DataError, match="in_channels"):
        replace(data, val=gray)


def test_a_label_out_of_range_names_num_classes(data):
    labels = data.val.labels.clone()
    labels[5] = 12
    with pytest.raises(DataError, match=re.escape("synthetic val labels span 0..12, outside 0..9")):
        replace(data, val=TensorImages(data.val.images, labels))
    session = new_session(replace(data, val=Relabelled(data.val, start=0, label=12)), config=replace(CONFIG, decision_images=300))
    with pytest.raises(ValueError, match=re.escape("labels span 12..12 but the model has 10 outputs; build it with num_classes=13")):
        session.setup()


def test_a_label_out_of_range_in_a_later_batch_names_num_classes(data):
    late = replace(data, val=Relabelled(data.val, start=299, label=12))   # the last of 5 evaluation batches
    session = new_session(late, config=replace(CONFIG, decision_images=300))
    with pytest.raises(ValueError, match="num_classes=13"):
        session.setup()


# ---------------------------------------------------------------------------------------------------- the model

def test_a_model_in_eval_mode_prunes_like_one_in_training_mode(data, dense, first_step):
    assert strip(new_session(data, copy.deepcopy(dense).eval()).step()) == first_step


def test_the_session_hands_the_model_back_in_the_mode_it_came_in(data, dense):
    session = new_session(data, copy.deepcopy(dense).eval())
    session.step()
    assert not session.model.training


def test_a_data_parallel_model_is_unwrapped(data, dense, first_step):
    session = new_session(data, nn.DataParallel(copy.deepcopy(dense)))
    assert type(session.model) is type(dense)
    assert strip(session.step()) == first_step


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to hold the model elsewhere")
def test_a_model_on_another_device_is_moved_to_the_sessions(data, dense, first_step):
    session = new_session(data, copy.deepcopy(dense).to("cuda"))
    assert {p.device.type for p in session.model.parameters()} == {"cpu"}
    assert strip(session.step()) == first_step


def test_a_model_without_weights_on_the_meta_device_is_refused(data, dense):
    with pytest.raises(ValueError) as error:
        new_session(data, copy.deepcopy(dense).to("meta"))
    assert "meta" in str(error.value) and "weights" in str(error.value)


def test_a_fully_frozen_model_is_refused_before_anything_is_pruned(data, dense):
    with pytest.raises(ValueError, match="requires_grad"):
        new_session(data, copy.deepcopy(dense).requires_grad_(False))


# ---------------------------------------------------------------------------------------------------- checkpoints and resume

def test_resume_without_a_checkpoint_says_where_it_looked(data, run_dir, saved_run, tmp_path):
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*nowhere/checkpoint\.pt; check the path"):
        PruningSession.load(tmp_path / "nowhere", data, device="cpu")
    (run_dir / "dense.pt").unlink()
    with pytest.raises(CheckpointError, match=r"no dense at .*run/dense\.pt"):
        PruningSession.load(run_dir, data, device="cpu")
    assert_intact(run_dir, saved_run)


def _truncated(good: bytes) -> bytes: return good[: len(good) // 2]


def _saved(obj) -> bytes:
    "What torch.save writes for `obj`."
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("damaged, message", [
    pytest.param(_truncated, "is damaged or truncated (RuntimeError); use an earlier copy or rerun", id="truncated"),
    pytest.param(lambda good: b"", "is damaged or truncated (EOFError); use an earlier copy or rerun", id="empty"),
    pytest.param(lambda good: _saved({"weights": torch.ones(1)}), "is not an ice_nb checkpoint (found dict without format 'ice_nb.checkpoint')", id="not-ice_nb"),
    pytest.param(lambda good: b"\x00not a checkpoint" * 64, "is damaged or truncated", id="random-bytes"),
    pytest.param(lambda good: b"hello world\n" * 10, "is damaged or truncated", id="text"),
])
def test_resume_from_a_damaged_checkpoint_says_what_to_do_and_leaves_it(data, run_dir, damaged, message):
    path = run_dir / "checkpoint.pt"
    bad = damaged(path.read_bytes())
    path.write_bytes(bad)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        PruningSession.load(run_dir, data, device="cpu")
    assert path.read_bytes() == bad, "the damaged file is left as it was, for inspection"


@pytest.mark.parametrize("name, kwargs", [("resnet56", dict(width=8)), ("resnet20", dict(width=16))])
def test_resume_with_another_architecture_says_which_model_to_pass(data, run_dir, saved_run, name, kwargs):
    with pytest.raises(CheckpointError, match=r"dense\.pt does not fit this model \(.*\); pass a fresh instance of "
                                              r"the architecture the run started from"):
        PruningSession.load(run_dir, data, model=create_model_for(data, name, **kwargs), device="cpu")
    assert_intact(run_dir, saved_run)


def test_resume_on_other_data_says_to_load_the_same_data(run_dir, saved_run):
    other = load_data("synthetic", val_size=200)
    with pytest.raises(CheckpointError, match=re.escape("this run was on synthetic with 2700 train / 300 val images; "
                                                        "load the same data (got synthetic, 2800 / 200)")):
        PruningSession.load(run_dir, other, device="cpu")
    assert_intact(run_dir, saved_run)


@pytest.mark.parametrize("file", ["checkpoint.pt", "dense.pt"])
def test_a_pickle_that_runs_code_is_refused_and_not_run(data, run_dir, saved_run, tmp_path, file):
    marker = tmp_path / "pwned"
    write_evil(run_dir / file, marker, kind=file.removesuffix(".pt"))
    with pytest.raises(CheckpointError, match=re.escape(f"{file} holds objects other than tensors and plain data, and "
                                                        "was not loaded (loading it would run code from the file)")):
        PruningSession.load(run_dir, data, device="cpu")
    assert not marker.exists(), "the file's code ran"
    if file == "dense.pt": assert_intact(run_dir, saved_run)


# ---------------------------------------------------------------------------------------------------- failures inside a step

def test_nan_loss_reports_the_error_and_rolls_the_step_back(data, run_dir, saved_run, next_step):
    session = PruningSession.load(run_dir, data, device="cpu")
    session.listeners.append(once_at_batch(1, poison))
    with pytest.raises(NonFiniteLossError, match="lower the learning rate") as error:
        session.step()
    assert any("step 3 was rolled back" in note for note in error.value.__notes__)
    assert_intact(run_dir, saved_run)
    assert (len(session.records), session.next_unit, session.progress.phase) == (2, 2, "idle")
    assert same_weights(weights(session.model), safe_load(run_dir / "checkpoint.pt")["state_dict"]), "not rolled back"
    assert strip(session.step()) == next_step[0] and same_weights(weights(session.model), next_step[1])


def test_nan_loss_in_the_first_step_of_a_fresh_session_is_rolled_back_too(data, dense, first_step):
    session = new_session(data, copy.deepcopy(dense))
    session.listeners.append(once_at_batch(1, poison))
    with pytest.raises(NonFiniteLossError, match="lower the learning rate"):
        session.step()
    assert (len(session.records), session.next_unit) == (0, 0)
    untouched = new_session(data, copy.deepcopy(dense))
    untouched.setup()   # set up as the failing session was (its batch norms recalibrated), no step
    assert same_weights(weights(session.model), weights(untouched.model)), "not rolled back"
    assert strip(session.step()) == first_step


def test_keyboard_interrupt_mid_step_rolls_back_and_leaves_a_resumable_run_dir(data, run_dir, saved_run, next_step):
    session = PruningSession.load(run_dir, data, device="cpu")
    session.listeners.append(once_at_batch(1, interrupt))
    with pytest.raises(KeyboardInterrupt):
        session.step()
    assert_intact(run_dir, saved_run)
    assert (len(session.records), session.next_unit, session.progress.phase) == (2, 2, "idle")
    assert same_weights(weights(session.model), safe_load(run_dir / "checkpoint.pt")["state_dict"]), "not rolled back"
    resumed = PruningSession.load(run_dir, data, device="cpu")   # as after a Ctrl-C that ended the process
    assert (len(resumed.records), resumed.next_unit) == (2, 2)
    assert strip(resumed.step()) == next_step[0] and same_weights(weights(resumed.model), next_step[1])
    assert strip(session.step()) == next_step[0] and same_weights(weights(session.model), next_step[1])


# ---------------------------------------------------------------------------------------------------- AutoTuner

@pytest.mark.parametrize("change, error, message", [
    (dict(n_trials=0), ValueError, "n_trials must be an integer >= 1, got 0"),
    (dict(n_trials=2.5), ValueError, "n_trials must be an integer >= 1, got 2.5"),
    (dict(sampler="cmaes"), ValueError, "unknown sampler 'cmaes'; choose from grid, tpe, random, nsga2"),
    (dict(objective="fastest"), ValueError, "unknown objective 'fastest'; choose from normalized, reference"),
    (dict(space=dict(thre=[math.nan])), ValueError, "search space: thre must be in [0, inf), got nan"),
    (dict(space=dict(fr=(0.9, 0.3))), ValueError, "range for fr must be (low, high) with low < high"),
    (dict(space=dict(fr="0.5")), ValueError, "fr: give a list of values or a (low, high) range, got str"),
    (dict(space=dict(lr=[0.1])), ValueError, "'lr' is not an ICEConfig field"),
    (dict(search_fraction=(math.nan, 0.5)), DataError, "subset size must be a fraction in (0, 1] or a count of images, got nan"),
], ids=["trials-0", "trials-float", "sampler", "objective", "space-nan", "space-range", "space-str", "space-field", "fraction-nan"])
def test_tuner_arguments_out_of_range_are_named(data, dense, change, error, message):
    with pytest.raises(error, match=re.escape(message)):
        AutoTuner(ice_session_factory(dense, config=CONFIG, device="cpu"), data, **change)


@pytest.mark.parametrize("make, error, message", [
    pytest.param(lambda data, dense: AutoTuner(ice_session_factory(dense), "synthetic"), TypeError, "ImageData",
                 id="data-str"),
    pytest.param(lambda data, dense: AutoTuner(None, data), TypeError, "session_factory",
                 id="factory-None"),
    pytest.param(lambda data, dense: ice_session_factory(dense, ratio=0), ValueError, "ratio",
                 id="factory-ratio-0"),
    pytest.param(lambda data, dense: ice_session_factory("resnet20"), TypeError, "nn.Module",
                 id="factory-model-str"),
])
def test_tuner_wrong_kinds_are_refused_at_once(data, dense, make, error, message):
    with pytest.raises(error, match=message):
        make(data, dense)


@pytest.mark.parametrize("where", ["corrupt-file", "missing-folder"])
def test_tuner_storage_that_cannot_be_used_is_named_with_the_fix(data, dense, tmp_path, where):
    db = tmp_path / "study.db" if where == "corrupt-file" else tmp_path / "no" / "study.db"
    if where == "corrupt-file": db.write_bytes(b"not a database" * 100)
    with pytest.raises(ValueError, match=re.escape(str(db))):
        AutoTuner(ice_session_factory(dense, config=CONFIG, device="cpu"), data, storage=f"sqlite:///{db}")


# ---------------------------------------------------------------------------------------------------- ICEPanel

def test_panel_refuses_what_is_not_a_session():
    with pytest.raises(TypeError, match="ICEPanel shows a PruningSession, got str; build one, or use ICEPanel.from_config"):
        ICEPanel("resnet20")


@pytest.mark.parametrize("ratio", [0, 1.0])
def test_panel_form_refuses_a_ratio_outside_0_1(data, ratio):
    with pytest.raises(ValueError, match="ratio"):
        ICEPanel.from_config(model="resnet20", ratio=ratio, config=CONFIG, device="cpu", data=data,
                             model_kwargs=dict(width=8), background=False)


@pytest.mark.parametrize("case, message", [("missing", "no checkpoint at"), ("truncated", "is damaged or truncated"),
                                           ("runs-code", "would run code"), ("other-architecture", "does not fit this model")])
def test_panel_load_of_a_bad_run_dir_shows_the_error_and_keeps_the_session(data, run_dir, tmp_path, case, message):
    panel = ICEPanel(new_session(data), background=False, dense=create_model_for(data, "resnet56", width=8))
    session, marker, path = panel.session, tmp_path / "pwned", run_dir / "checkpoint.pt"
    folder = tmp_path / "nowhere" if case == "missing" else run_dir
    if case == "truncated": path.write_bytes(_truncated(path.read_bytes()))
    if case == "runs-code": write_evil(path, marker)
    if case == "other-architecture":   # a run started from a model object: the panel resumes it on its `dense`, a ResNet-56
        atomic_save(safe_load(path) | dict(model_spec=None), path)
    before = path.read_bytes()
    panel.folder.value = str(folder)
    panel.buttons["load"].click()
    assert isinstance(panel.error, CheckpointError) and message in panel.error_area.value
    assert panel.session is session and panel.status.value == "load failed; the session is usable"
    assert not panel.buttons["step"].disabled and not marker.exists()
    assert path.read_bytes() == before


def test_panel_step_with_nan_loss_shows_the_error(data):
    panel = ICEPanel(new_session(data), background=False)
    panel.session.listeners.append(once_at_batch(1, poison))
    panel.buttons["step"].click()
    assert isinstance(panel.error, NonFiniteLossError)
    assert "step failed in step 1 (layer1.0)" in panel.error_area.value and "lower the learning rate" in panel.error_area.value
    assert panel.status.value == "step failed in step 1 (layer1.0); the session is usable"
    assert not panel.buttons["step"].disabled and panel.session.progress.phase == "idle"


def test_panel_steps_on_after_a_nan_step(data):
    panel = ICEPanel(new_session(data), background=False)
    panel.session.listeners.append(once_at_batch(1, poison))
    panel.buttons["step"].click()
    panel.buttons["step"].click()
    assert panel.error is None, panel.error
    assert [(r.unit, r.channels_before) for r in panel.session.records] == [("layer1.0", 8)]


# ---------------------------------------------------------------------------------------------------- the ice-nb command

@pytest.mark.parametrize("value, message", [("0", "ratio must be in (0, 1), got 0.0"),
                                            ("1", "ratio must be in (0, 1), got 1.0"),
                                            ("-0.5", "ratio must be in (0, 1), got -0.5"),
                                            ("nan", "ratio must be in (0, 1), got nan")])
def test_cli_ratio_outside_0_1_is_a_one_line_error(tmp_path, value, message):
    result = run_cli("prune", "--ratio", value, "--out", "run", cwd=tmp_path)
    one_line_error(result.returncode, result.stderr, message)
    assert not (tmp_path / "run").exists()


def test_cli_ratio_that_is_not_a_number_is_refused_by_the_parser(tmp_path):
    result = run_cli("prune", "--ratio", "abc", "--out", "run", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == (
        "ice-nb prune: error: argument --ratio: invalid float value: 'abc'")


def test_cli_resume_refuses_a_pickle_that_runs_code(run_dir, tmp_path):
    marker = tmp_path / "pwned"
    write_evil(run_dir / "checkpoint.pt", marker)
    result = run_cli("prune", "--resume", run_dir, cwd=tmp_path)
    one_line_error(result.returncode, result.stderr, "checkpoint.pt holds objects other than tensors", "would run code")
    assert not marker.exists()


@pytest.fixture
def settings(tmp_path, monkeypatch):
    "A settings.ini for `ice-nb` in a fresh working directory: synthetic data as `data` has it, on the CPU."
    monkeypatch.chdir(tmp_path)
    (tmp_path / "settings.ini").write_text(SETTINGS)


@pytest.mark.parametrize("command", ["prune", "report"])
def test_cli_resume_or_report_of_a_bad_run_dir_is_a_one_line_error(capsys, settings, data, run_dir, saved_run, tmp_path, command):
    resume = ["prune", "--resume"] if command == "prune" else ["report"]
    one_line_error(*ice_nb(capsys, *resume, tmp_path / "nowhere"), "no checkpoint at", "check the path")
    dense56 = create_model_for(data, "resnet56", width=8)
    atomic_save(dense_file(dense56, "resnet56", dict(width=8), {}), run_dir / "dense.pt")
    one_line_error(*ice_nb(capsys, *resume, run_dir), "dense.pt does not fit this model", "pass a fresh instance")
    assert_intact(run_dir, saved_run)
    (run_dir / "checkpoint.pt").write_bytes(_truncated((run_dir / "checkpoint.pt").read_bytes()))
    one_line_error(*ice_nb(capsys, *resume, run_dir), "is damaged or truncated", "use an earlier copy or rerun")


def test_cli_keyboard_interrupt_mid_step_exits_130_and_keeps_the_checkpoint(capsys, settings, run_dir, saved_run, monkeypatch):
    monkeypatch.setattr(cli, "_batch_bar", lambda session: session.listeners.append(once_at_batch(1, interrupt)))
    code, err = ice_nb(capsys, "prune", "--resume", run_dir)
    assert code == 130 and "ice-nb: interrupted; finished steps are kept" in err
    assert_intact(run_dir, saved_run)


def test_cli_interrupted_prune_says_how_to_continue(capsys, settings, tmp_path, monkeypatch):
    def interrupted(settings, args): raise KeyboardInterrupt
    monkeypatch.setattr(cli, "prune", interrupted)
    code, err = ice_nb(capsys, "prune", "--resume", tmp_path / "run")
    assert code == 130 and f"ice-nb prune --resume {tmp_path / 'run'}" in err
