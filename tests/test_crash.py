"Crash safety: a CLI pruning run killed with SIGKILL at any point and resumed ends exactly like an uninterrupted one."
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ICE_NB, run_cli

SETTINGS = "[ice_nb]\nrun_dir = runs\nval_size = 300\ndevice = cpu\npretrain_epochs = 1\ndataset = synthetic\nseed = 0\n"
PRUNE = ("prune", "--ratio", "0.5", "--finetune-images", "256", "--decision-images", "200")


def outcome(run_dir):
    "The run's records (without timings) and its pruned weights."
    records = [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads((run_dir / "records.json").read_text())]
    state = torch.load(run_dir / "pruned.pt", weights_only=True)["state_dict"]
    return records, state


def kill_during(step: int, delay: float, run_dir, cwd) -> bool:
    "Start a prune into `run_dir`, wait until it has printed step `step` (0: not at all), `delay` s more, then SIGKILL it."
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([ICE_NB, *PRUNE, "--out", run_dir], cwd=cwd, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if step:
        for line in process.stdout:
            if line.startswith(f"step {step} "): break
    time.sleep(delay)
    running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    return running


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    "Every run of this module on one thread: a different thread count changes the order of float sums, hence the weights."
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        yield


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, one_thread):
    d = tmp_path_factory.mktemp("crash")
    (d / "settings.ini").write_text(SETTINGS)
    assert run_cli("pretrain", cwd=d).returncode == 0   # the dense model is cached before any timing
    return d


def test_killed_runs_resume_to_the_same_result(workdir):
    whole = run_cli(*PRUNE, "--out", "whole", cwd=workdir)
    assert whole.returncode == 0, whole.stderr
    expected_records, expected_state = outcome(workdir / "whole")
    rng = random.Random(0)
    # before the first checkpoint, then inside later steps (fine-tuning, evaluation or the checkpoint write)
    # at least two steps left after each kill point, so that a fast machine cannot finish before the kill
    kill_points = [(0, 3.0)] + [(step, rng.uniform(0.0, 1.0)) for step in sorted(rng.sample(range(1, 8), 2))]
    for i, (step, delay) in enumerate(kill_points):
        run_dir = workdir / f"killed{i}"
        assert kill_during(step, delay, run_dir, workdir), f"the run ended before the kill after step {step}"
        if (run_dir / "checkpoint.pt").exists():
            resumed = run_cli("prune", "--resume", run_dir, cwd=workdir)
        else:   # killed before the first checkpoint: nothing finished, start again
            resumed = run_cli(*PRUNE, "--out", run_dir, cwd=workdir)
        assert resumed.returncode == 0, (step, delay, resumed.stderr)
        records, state = outcome(run_dir)
        assert records == expected_records, f"killed {delay:.2f} s after step {step}"
        assert state.keys() == expected_state.keys()
        for k in state: assert torch.equal(state[k], expected_state[k]), (step, delay, k)
        assert not list(run_dir.glob(".*.tmp")), "a resumed run leaves no half-written files"


def test_a_crash_while_writing_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    "An exception (or a kill) inside torch.save leaves the previous file whole and loadable."
    from ice_nb.checkpoint import safe_load
    from ice_nb.train import atomic_save
    path = tmp_path / "checkpoint.pt"
    atomic_save(dict(format="ice_nb.checkpoint", step=1), path)
    def torn_write(obj, f):
        with open(f, "wb") as out: out.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", torn_write)
    with pytest.raises(OSError, match="disk full"):
        atomic_save(dict(format="ice_nb.checkpoint", step=2), path)
    monkeypatch.undo()
    assert safe_load(path, "checkpoint")["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


WRITER = """
import sys, torch
from ice_nb.train import atomic_save
path, n = sys.argv[1], 0
while True:   # rewrite the checkpoint as fast as possible, each time with the next step number
    n += 1
    atomic_save(dict(format="ice_nb.checkpoint", step=n, weights=torch.full((1_000_000,), float(n))), path)
    print(n, flush=True)
"""

def test_a_kill_during_a_checkpoint_write_keeps_a_whole_checkpoint(tmp_path):
    "SIGKILL at random moments of a stream of 4 MB atomic writes: the file on disk is always a whole, loadable one."
    from ice_nb.checkpoint import safe_load
    from ice_nb.train import remove_stale_writes
    path, rng, torn = tmp_path / "checkpoint.pt", random.Random(1), 0
    for _ in range(6):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        written = int(writer.stdout.readline())   # at least one write has finished
        time.sleep(rng.uniform(0.0, 0.3))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        saved = safe_load(path, "checkpoint")
        assert saved["step"] >= written and torch.equal(saved["weights"], torch.full((1_000_000,), float(saved["step"])))
        torn += bool(list(tmp_path.glob(".*.tmp")))   # killed inside a write (about 7 kills in 10 are)
        remove_stale_writes(tmp_path)   # what the next run's set-up does
        assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
    assert torn, "no kill landed inside a write: the test did not test what it says"
