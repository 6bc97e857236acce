"""What every benchmark script starts from: its parser, a synchronised timer, the data and the cached dense model."""
import argparse
import time

from ice_nb.config import load_settings
from ice_nb.data import fetch_data, load_data
from ice_nb.train import pretrain, synchronize, tune_cpu_malloc


def bench_parser(doc: str):
    "settings.ini's values and a parser with the --model / --data flags every script takes."
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--data", default="fashion_mnist")
    return load_settings(), parser


def timed(fn, device) -> float:
    "Seconds `fn()` takes, CUDA synchronised before the clock is read."
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def dense_model(model: str, dataset: str, epochs: int, device: str, settings):
    "The data and the cached dense model that a benchmark starts from."
    if device == "cpu": tune_cpu_malloc()
    if dataset != "synthetic": fetch_data(dataset, settings.data_root)
    data = load_data(dataset, settings.data_root, val_size=settings.val_size, seed=settings.seed)
    dense, record = pretrain(model, data, epochs=epochs, lr=settings.pretrain_lr, batch_size=settings.batch_size,
                             seed=settings.seed, device=device, cache_dir=f"{settings.run_dir}/dense")
    return data, dense, record
