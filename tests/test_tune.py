"A tuning study in SQLite survives a kill -9 mid-trial: no finished trial is lost, and the study completes."
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

WORKER = Path(__file__).with_name("tune_worker.py")


def trials(url):
    try:
        return optuna.load_study(study_name="ice_nb", storage=url).get_trials(deepcopy=False)
    except KeyError:
        return []


def test_sqlite_study_resumes_after_kill(tmp_path):
    url = f"sqlite:///{tmp_path}/study.db"
    worker = subprocess.Popen([sys.executable, str(WORKER), url, "4"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    while time.time() < deadline:  # wait until two trials are finished and a third is running
        states = [t.state for t in trials(url)]
        if states.count(TrialState.COMPLETE) >= 2 and TrialState.RUNNING in states: break
        if worker.poll() is not None: break
        time.sleep(0.2)
    assert worker.poll() is None, "the worker finished before it could be killed mid-trial"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    before = {t.number: (t.params, t.value) for t in trials(url) if t.state == TrialState.COMPLETE}
    assert len(before) >= 2

    time.sleep(3.5)  # past the heartbeat's grace period: the killed trial counts as failed
    result = subprocess.run([sys.executable, str(WORKER), url, "4"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    after = trials(url)
    complete = {t.number: (t.params, t.value) for t in after if t.state == TrialState.COMPLETE}
    assert all(complete[n] == before[n] for n in before), "a finished trial changed or was lost"
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in after) == 4
    assert any(t.state == TrialState.FAIL for t in after), "the killed trial should be marked failed"
    finished_params = [tuple(sorted(t.params.items())) for t in after if t.state == TrialState.COMPLETE]
    assert len(set(finished_params)) == len(finished_params), "the grid repeated a finished point"
