import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ICE_NB = str(Path(sys.executable).parent / "ice-nb")  # the console script installed beside this Python


def run_cli(*args, cwd=None, timeout=300):
    "Run the `ice-nb` command in a subprocess; returns the CompletedProcess."
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([ICE_NB, *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def cli():
    return run_cli
