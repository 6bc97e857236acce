"""What every benchmark script starts from: the data and the cached dense model."""
from ice_nb.data import fetch_data, load_data
from ice_nb.train import pretrain, tune_cpu_malloc


def dense_model(model: str, dataset: str, epochs: int, device: str, settings):
    "The data and the cached dense model that a benchmark starts from."
    if device == "cpu": tune_cpu_malloc()
    if dataset != "synthetic": fetch_data(dataset, settings.data_root)
    data = load_data(dataset, settings.data_root, val_size=settings.val_size, seed=settings.seed)
    dense, record = pretrain(model, data, epochs=epochs, lr=settings.pretrain_lr, batch_size=settings.batch_size,
                             seed=settings.seed, device=device, cache_dir=f"{settings.run_dir}/dense")
    return data, dense, record
