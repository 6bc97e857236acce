"The `ice-nb` command: help, settings.ini and flags, clear one-line errors, the throughput benchmark script."
import subprocess
import sys

import torch

from conftest import ROOT


def one_line_error(result, *fragments):
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ice-nb: error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_help_lists_the_commands(cli):
    result = cli("--help")
    assert result.returncode == 0
    for command in ("models", "data", "pretrain", "prune", "tune", "bench", "report", "demo"):
        assert command in result.stdout


def test_pretrain_reads_settings_and_flags_win(cli, tmp_path):
    (tmp_path / "settings.ini").write_text(
        "[ice_nb]\nrun_dir = runs\ndevice = cpu\nval_size = 300\nmodel = resnet56\ndataset = synthetic\npretrain_epochs = 1\n")
    result = cli("pretrain", "--model", "resnet20", "--out", "dense.pt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "resnet20 on synthetic: 2700 train / 300 val / 1000 test images" in result.stdout
    record = torch.load(tmp_path / "dense.pt", weights_only=True)["record"]
    assert (record["model"], record["epochs"], record["val"]) == ("resnet20", 1, 300)
    assert 0 <= record["test_accuracy"] <= 100
    assert list((tmp_path / "runs" / "dense").glob("resnet20-synthetic-*.pt"))
    again = cli("pretrain", "--model", "resnet20", cwd=tmp_path)
    assert "loaded from cache" in again.stdout


def test_prune_your_own_model_by_import_path(cli, tmp_path):
    "A model module in the working directory, its arguments as JSON; the pruned model reloads onto a fresh one."
    from ice_nb.checkpoint import load_pruned
    from ice_nb.data import load_data
    from ice_nb.models import create_model_for
    (tmp_path / "my_nets.py").write_text((ROOT / "tests" / "zoo_nets.py").read_text())
    (tmp_path / "settings.ini").write_text("[ice_nb]\nrun_dir = runs\ndevice = cpu\nval_size = 300\n")
    result = cli("prune", "--model", "my_nets:ChunkNet", "--model-kwargs", '{"c": 8}', "--data", "synthetic",
                 "--epochs", "1", "--ratio", "0.5", "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "dense my_nets:ChunkNet" in result.stdout and "done: " in result.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        fresh = create_model_for(load_data("synthetic", val_size=300), "my_nets:ChunkNet", c=8)
    finally:
        sys.path.remove(str(tmp_path))
    pruned = load_pruned(fresh, tmp_path / "run" / "pruned.pt")
    assert pruned.mix.out_channels < 8 and pruned(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_bad_setting_names_the_key(cli, tmp_path):
    (tmp_path / "settings.ini").write_text("[ice_nb]\nratio = 2\n")
    one_line_error(cli("pretrain", cwd=tmp_path), "settings.ini: ratio must be in (0, 1), got 2.0")
    (tmp_path / "settings.ini").write_text("[ice_nb]\nbatch_size = lots\n")
    one_line_error(cli("demo", cwd=tmp_path), "batch_size")


def test_bad_flags_are_one_line_errors(cli, tmp_path):
    one_line_error(cli("pretrain", "--model", "resnet21", "--data", "synthetic", cwd=tmp_path), "resnet20", "ice-nb models")
    one_line_error(cli("pretrain", "--model", "no_module_here:net", "--data", "synthetic", cwd=tmp_path), "cannot import")
    one_line_error(cli("pretrain", "--model-kwargs", "{width: 8}", cwd=tmp_path), "model_kwargs must be a JSON object")
    one_line_error(cli("pretrain", "--model", "resnet20", "--data", "mnist", cwd=tmp_path), "fashion_mnist")
    one_line_error(cli("pretrain", "--epochs", "0", "--data", "synthetic", "--val-size", "300", cwd=tmp_path), "pretrain_epochs")
    one_line_error(cli("pretrain", "--device", "gpu", cwd=tmp_path), "device")


def test_missing_data_says_how_to_get_it(cli, tmp_path, monkeypatch):
    result = cli("pretrain", "--data", "cifar10", "--data-root", tmp_path / "nothing", cwd=tmp_path)
    one_line_error(result, "ice-nb data cifar10")


def test_debug_shows_the_traceback(cli, tmp_path):
    result = cli("pretrain", "--model", "resnet21", "--data", "synthetic", "--debug", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_train_loop_benchmark_runs(tmp_path):
    "The throughput benchmark script works end to end (its ratio is reported, not asserted: timing is noisy)."
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "train_loop.py"), "--data", "synthetic",
                             "--images", "512", "--rounds", "1", "--device", "cpu"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "throughput ratio train_epoch / plain loop" in result.stdout
