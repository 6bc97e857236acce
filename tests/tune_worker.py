"A tuning worker for the crash test: a grid study on synthetic data, stored in SQLite (argv: database URL, trials)."
import sys

import torch

from ice_nb.data import load_data
from ice_nb.models import create_model_for
from ice_nb.session import ICEConfig
from ice_nb.tune import AutoTuner, ice_session_factory

url, n_trials = sys.argv[1], int(sys.argv[2])
data = load_data("synthetic", val_size=200, synthetic_size=(1200, 100))
torch.manual_seed(0)
dense = create_model_for(data, "resnet20", width=8)
factory = ice_session_factory(dense, ratio=0.5, config=ICEConfig.paper(batch_size=64, probe_images=32), device="cpu")
space = dict(thre=[0.5, 1.5, 3.0], fr=[0.3, 0.6], base=[0.01], p=[0.15], beta=[50], delta=[0.005])
tuner = AutoTuner(factory, data, space=space, sampler="grid", n_trials=n_trials, storage=url,
                  search_fraction=(0.2, 0.5), heartbeat=(1, 3), max_drop=100.0)
tuner.search()
print("finished", len(tuner.finished_trials()))
