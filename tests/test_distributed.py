"A distributed pruning run (torchrun, gloo, 2 processes): a rank killed mid-run makes it fail cleanly, and --resume finishes it."
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

SETTINGS = "[ice_nb]\nrun_dir = runs\nval_size = 300\ndevice = cpu\npretrain_epochs = 1\ndataset = synthetic\nseed = 0\n"
PRUNE = ("prune", "--model", "resnet20", "--model-kwargs", '{"width": 8}', "--ratio", "0.5",
         "--finetune-images", "512", "--decision-images", "200", "--thre", "1")


def torchrun(*args, cwd) -> subprocess.Popen:
    "`torchrun --standalone --nproc_per_node 2 -m ice_nb.cli ARGS` in `cwd`, its output captured."
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "ice_nb.cli", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def worker_of_rank(launcher: int, rank: int) -> int | None:
    "The pid of the torchrun worker (a child of `launcher`) whose RANK is `rank`, once it runs."
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit(): continue
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == launcher and f"RANK={rank}".encode() in environ: return int(proc.name)
    return None


def records_of(run_dir: Path, source: str = "records") -> list:
    "The run's step records without their timings, from records.json or from the checkpoint."
    if source == "records": records = json.loads((run_dir / "records.json").read_text())
    else: records = torch.load(run_dir / "checkpoint.pt", weights_only=False)["records"]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_killed_rank_fails_the_run_cleanly_and_resume_finishes_it(tmp_path):
    (tmp_path / "settings.ini").write_text(SETTINGS)
    run_dir = tmp_path / "run"
    launcher = torchrun(*PRUNE, "--out", "run", cwd=tmp_path)
    deadline = time.time() + 120
    while not (run_dir / "checkpoint.pt").exists():   # the first step is done and saved
        assert launcher.poll() is None and time.time() < deadline, launcher.communicate()
        time.sleep(0.02)
    victim = worker_of_rank(launcher.pid, 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    out, err = launcher.communicate(timeout=120)   # torchrun stops the other rank and fails
    assert launcher.returncode != 0, out
    assert "Signal 9 (SIGKILL)" in err and "done:" not in out, err[-2000:]

    saved = records_of(run_dir, "checkpoint")   # the checkpoint of the last finished step is whole and loadable
    assert 1 <= len(saved) < 9, len(saved)
    resumed = torchrun(*("prune", "--resume", "run"), cwd=tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert f"resuming run: {len(saved)}/9 units done, on 2 processes" in out and "done: " in out, out
    records = records_of(run_dir)
    assert [r["step"] for r in records] == list(range(9))   # every unit once, none lost or pruned twice
    assert records[:len(saved)] == saved                    # the steps before the kill are kept as they were
    assert not list(run_dir.glob(".*.tmp"))                 # no half-written file left behind
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 9 and 0 < summary["params_kept"] < 1
