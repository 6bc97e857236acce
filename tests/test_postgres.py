"""Two `ice-nb tune` workers share one study on a real PostgreSQL server; one is killed with SIGKILL mid-trial.

The server is Debian's `postgresql` (`make test` installs it as root): a throw-away cluster in a temporary folder,
on a free port of 127.0.0.1, with a user that logs in with a password. It is stopped and deleted at the end, even
when the test fails. The workers get the storage URL from the environment variable ICE_NB_STORAGE, so its password
is not in their command line; the test looks for the password in everything they print and write.
"""
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

PASSWORD = "pw-Kx7q-4f1e9c2b"   # distinctive, so that finding it anywhere means it leaked
ICE_NB = str(Path(sys.executable).parent / "ice-nb")
TRIALS = 4


def server_programs() -> Path | None:
    "The folder of PostgreSQL's initdb and pg_ctl: Debian's newest version, else the PATH's."
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    if debian: return Path(debian[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl", path=str(Path(found).parent)) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    "A PostgreSQL server of its own on 127.0.0.1; yields the storage URL of its database `ice`."
    programs = server_programs()
    if programs is None:
        pytest.skip("no PostgreSQL server here: install Debian's postgresql (`make test` does, as root)")
    pytest.importorskip("psycopg", reason='no PostgreSQL driver: pip install "ice_nb[postgres]"')
    import psycopg
    as_server = []   # PostgreSQL refuses to run as root: run it as the postgres user then
    if os.geteuid() == 0:
        if not shutil.which("runuser"): pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
        as_server = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="ice_nb-postgres-"))
    data = folder / "data"
    run = lambda *cmd: subprocess.run([*as_server, *map(str, cmd)], cwd=folder, capture_output=True, text=True, timeout=60)
    try:
        password_file = folder / "password"
        password_file.write_text(PASSWORD + "\n")
        password_file.chmod(0o600)
        if as_server:
            for path in (folder, password_file): shutil.chown(path, "postgres")
        made = run(programs / "initdb", "-D", data, "-U", "ice", f"--pwfile={password_file}", "--auth=scram-sha-256",
                   "-E", "UTF8", "--no-sync")
        password_file.unlink()
        assert made.returncode == 0, made.stdout + made.stderr
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        started = run(programs / "pg_ctl", "-D", data, "-l", folder / "server.log", "-o", options, "-w", "-t", "60", "start")
        assert started.returncode == 0, started.stdout + started.stderr + (folder / "server.log").read_text()
        with psycopg.connect(host="127.0.0.1", port=port, user="ice", password=PASSWORD, dbname="postgres", autocommit=True) as db:
            db.execute("CREATE DATABASE ice")
        yield f"postgresql://ice:{PASSWORD}@127.0.0.1:{port}/ice"
    finally:
        if data.exists(): run(programs / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def trials(url):
    import optuna
    try:
        return optuna.load_study(study_name="ice_nb", storage=url).get_trials(deepcopy=False)
    except KeyError:   # no study yet
        return []


def test_two_workers_share_a_postgresql_study_and_survive_a_kill(postgres, tmp_path):
    from optuna.trial import TrialState
    url = postgres
    (tmp_path / "settings.ini").write_text(
        f"[ice_nb]\nrun_dir = {tmp_path}/runs\ndata_root = {tmp_path}/data\ndevice = cpu\nseed = 0\nbatch_size = 64\n"
        "val_size = 300\ndataset = synthetic\nmodel = resnet20\nmodel_kwargs = {\"width\": 8}\npretrain_epochs = 1\n")
    env = {**os.environ, "ICE_NB_STORAGE": url, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [ICE_NB, "tune", "--settings", "settings.ini", "--sampler", "grid", "--trials", str(TRIALS),
               "--search-fraction", "400", "200", "--heartbeat", "1", "4"]
    workers, outputs = {}, {}

    def start(name):
        outputs[name] = open(tmp_path / f"{name}.log", "w")
        workers[name] = subprocess.Popen([*command, "--out", f"{name}.json"], cwd=tmp_path, env=env,
                                         stdout=outputs[name], stderr=subprocess.STDOUT)
        deadline = time.time() + 30   # once the worker runs ice-nb (not the fork before it), its command line is public
        while b"tune" not in (cmdline := Path(f"/proc/{workers[name].pid}/cmdline").read_bytes()) and time.time() < deadline:
            time.sleep(0.05)
        assert b"tune" in cmdline and PASSWORD.encode() not in cmdline and b"--storage" not in cmdline, cmdline

    def logs():
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in sorted(tmp_path.glob("*.log")))

    def wait_for(condition, seconds, what):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if condition(trials(url)): return
            assert all(w.poll() in (None, 0) for w in workers.values()), f"a worker failed while waiting for {what}\n{logs()}"
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n{logs()}")

    try:
        # the dense model, pretrained once into the shared run_dir; then worker a, and worker b once a has its baseline
        pretrain = subprocess.run([ICE_NB, "pretrain", "--settings", "settings.ini"], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=120)
        (tmp_path / "pretrain.log").write_text(pretrain.stdout + pretrain.stderr)
        assert pretrain.returncode == 0, logs()
        start("a")
        wait_for(lambda ts: any(t.state == TrialState.RUNNING for t in ts), 60, "worker a's first trial")
        start("b")
        mid_trial = lambda ts: [t for t in ts if t.state == TrialState.RUNNING and len(t.params) == 6]   # its values drawn
        wait_for(lambda ts: len(mid_trial(ts)) == 2 and any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in ts),
                 90, "both workers mid-trial")
        before = trials(url)
        os.kill(workers["a"].pid, signal.SIGKILL)   # worker a dies mid-trial
        assert workers["a"].wait(10) == -signal.SIGKILL
        running_at_kill = {t.number for t in before if t.state == TrialState.RUNNING}
        finished_before = {t.number: (t.params, t.values, t.state) for t in before if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
        start("a2")   # worker a starts again, as on a machine that came back
        for name in ("b", "a2"):
            assert workers[name].wait(120) == 0, logs()
    finally:
        for worker in workers.values():
            if worker.poll() is None: worker.kill(); worker.wait()
        for output in outputs.values(): output.close()

    after = trials(url)
    finished = [t for t in after if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    failed = [t for t in after if t.state == TrialState.FAIL]
    # the study completes with exactly the trials asked for; the finished ones before the kill are kept as they were
    assert len(finished) == TRIALS, [(t.number, t.state) for t in after]
    assert not [t for t in after if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert all((t.params, t.values, t.state) == finished_before[t.number] for t in finished if t.number in finished_before)
    assert set(finished_before) <= {t.number for t in finished}, "a finished trial was lost"
    params = [tuple(sorted(t.params.items())) for t in finished]
    assert len(set(params)) == len(params), "a point of the grid ran twice"
    # of the two trials running when worker a was killed, its own is marked failed and worker b's finished
    killed = [t for t in after if t.number in running_at_kill and t.state == TrialState.FAIL]
    assert len(killed) == 1 and killed[0].params, [(t.number, t.state) for t in after]
    assert all(not t.params for t in failed if t is not killed[0]), "a failed trial other than the killed one ran something"
    # both workers end with the same best config, the study's best
    best = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("b", "a2")]
    assert best[0]["config"] == best[1]["config"]
    import optuna
    study = optuna.load_study(study_name="ice_nb", storage=url)
    assert {k: best[0]["config"][k] for k in study.best_params} == study.best_params
    # the URL came from the environment, shown with its password masked
    shown = url.replace(PASSWORD, "***")
    for name in ("a", "b", "a2"):
        assert f"study 'ice_nb' in {shown} (from $ICE_NB_STORAGE)" in (tmp_path / f"{name}.log").read_text(), logs()
    # the password is nowhere in what the workers printed (their logs are files here) or wrote
    leaks = [str(p) for p in tmp_path.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert leaks == [], leaks
    assert "experimental" not in logs().lower(), logs()   # Optuna's warning about the heartbeat is silenced
