"Pruning sessions on torchvision models, and a pruned model saved and loaded onto a fresh instance."
import copy

import pytest
import torch

from ice_nb.checkpoint import load_pruned, save_pruned
from ice_nb.data import load_data
from ice_nb.models import create_model, create_model_for
from ice_nb.session import ICEConfig, PruningSession


@pytest.fixture(scope="module")
def data():
    return load_data("synthetic", val_size=200, synthetic_size=(600, 100), synthetic_shape=(3, 32))


def small_config(**kw):
    return ICEConfig(**(dict(batch_size=32, decision_images=64, finetune_images=64, probe_images=32, thre=0.0) | kw))


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "mobilenet_v2"])
def test_steps_shrink_the_model_and_it_still_runs(data, name, tmp_path):
    torch.manual_seed(0)
    model = create_model_for(data, name)
    session = PruningSession(model, data, ratio=0.5, config=small_config(use_trigger=False), device="cpu", run_dir=tmp_path)
    x = torch.randn(2, 3, 32, 32)
    for _ in range(2):
        record = session.step()
        assert record.fine_tuned and record.channels_after < record.channels_before
        assert record.params_after < record.params_before and record.macs_after < record.macs_before
        assert session.model.eval()(x).shape == (2, 10)
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "dense.pt").exists()

    save_pruned(session.model, tmp_path / "pruned.pt")
    loaded = load_pruned(create_model_for(data, name), tmp_path / "pruned.pt").eval()
    torch.testing.assert_close(loaded(x), session.model.eval()(x))  # layouts differ (channels_last): not bitwise


def test_group_granularity_prunes_residual_channels(data):
    torch.manual_seed(0)
    session = PruningSession(create_model_for(data, "resnet20"), data, ratio=0.5,
                             config=small_config(granularity="group", use_freeze=False), device="cpu")
    session.setup()
    unit = session.units[3]
    assert [g.producer for g in unit.groups] == ["layer2.0.conv1", "layer2.0.conv2"]
    session.next_unit = 3
    session.step()
    stage2 = session.model.layer2
    assert stage2[0].conv2.out_channels == stage2[1].conv2.out_channels == stage2[2].conv1.in_channels == 16


def test_resume_of_a_model_built_by_hand_needs_the_model(data, tmp_path):
    torch.manual_seed(0)
    model = create_model("resnet20")   # sized by hand: it does not remember which data it was made for
    session = PruningSession(copy.deepcopy(model), data, ratio=0.5, config=small_config(use_freeze=False), device="cpu", run_dir=tmp_path)
    session.step()
    with pytest.raises(ValueError, match="fresh instance"):
        PruningSession.load(tmp_path, data, device="cpu")
    resumed = PruningSession.load(tmp_path, data, model=create_model("resnet20"), device="cpu")
    assert resumed.next_unit == 1 and resumed.records[0].unit == "layer1.0"
    with pytest.raises(Exception, match="does not fit"):
        PruningSession.load(tmp_path, data, model=create_model_for(data, "resnet56"), device="cpu")
