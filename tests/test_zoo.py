"""The model-zoo compatibility matrix: two ICE steps, exact pruning, the forward pass, the size reduction, save/load.

Each model is pruned by a `PruningSession` at ratio 0.3 for two steps (fewer if it has fewer units), each step
fine-tuned on one batch of 4 synthetic 32x32 images. Before that, pruning the same units of a copy (without
fine-tuning) must compute exactly what the dense model computes with the removed channels zeroed where they are read:
this catches a silently wrong model. After the steps, the pruned model must run, be smaller in parameters and MACs,
and reload onto a fresh instance with `load_pruned` giving the same outputs. A model that Torch-Pruning cannot handle
must stop at unit discovery with an `UnsupportedModelError` naming the layer and a workaround. A failure of ice_nb
itself is an `xfail(strict=True)` with its reason, until it is fixed. The results go to tests/artifacts/compat.md;
`python tests/compat_table.py` copies that table into README.md.
"""
import copy
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch_pruning as tp
import torchvision

from ice_nb.checkpoint import load_pruned, save_pruned
from ice_nb.data import load_data
from ice_nb.criteria import prune_unit
from ice_nb.depgraph import UnsupportedModelError, count_macs_and_params, pruning_group
from ice_nb.models import create_model_for, model_names
from ice_nb.session import ICEConfig, PruningSession
from ice_nb.units import find_units

COMPAT = Path(__file__).parent / "artifacts" / "compat.md"
STEPS = 2
X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


# Small custom networks, one per structure that trips up channel pruning. Each puts the structure inside one
# block (with the layer that reads it), so that the block is an `internal` unit.
class ConcatBlock(nn.Module):
    "Two conv branches joined by torch.cat, read by one 1x1 conv: the cat's channels come from both producers."
    def __init__(self, c: int):
        super().__init__()
        self.left, self.left_bn = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.right, self.right_bn = nn.Conv2d(c, c // 2, 1, bias=False), nn.BatchNorm2d(c // 2)
        self.fuse, self.fuse_bn = nn.Conv2d(c + c // 2, c, 1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        x = torch.cat([F.relu(self.left_bn(self.left(x))), F.relu(self.right_bn(self.right(x)))], 1)
        return F.relu(self.fuse_bn(self.fuse(x)))

class DepthwiseSeparableBlock(nn.Module):
    "Two depthwise-separable convolutions (MobileNet-v1): a depthwise conv's channels are its input's channels."
    def __init__(self, c: int):
        super().__init__()
        self.dw1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c)
        self.pw1, self.bn2 = nn.Conv2d(c, 2 * c, 1, bias=False), nn.BatchNorm2d(2 * c)
        self.dw2, self.bn3 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c, bias=False), nn.BatchNorm2d(2 * c)
        self.pw2, self.bn4 = nn.Conv2d(2 * c, c, 1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        for conv, bn in ((self.dw1, self.bn1), (self.pw1, self.bn2), (self.dw2, self.bn3), (self.pw2, self.bn4)):
            x = F.relu(bn(conv(x)))
        return x

class GroupedBlock(nn.Module):
    "A ResNeXt-style bottleneck without the shortcut: 1x1, 3x3 grouped (4 groups), 1x1."
    def __init__(self, c: int):
        super().__init__()
        self.reduce, self.bn1 = nn.Conv2d(c, 2 * c, 1, bias=False), nn.BatchNorm2d(2 * c)
        self.grouped, self.bn2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=4, bias=False), nn.BatchNorm2d(2 * c)
        self.expand, self.bn3 = nn.Conv2d(2 * c, c, 1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        x = F.relu(self.bn1(self.reduce(x)))
        x = F.relu(self.bn2(self.grouped(x)))
        return F.relu(self.bn3(self.expand(x)))

class SharedBlock(nn.Module):
    "One conv applied twice (weights shared), between two plain convs: its input and output channels are tied."
    def __init__(self, c: int):
        super().__init__()
        self.pre, self.bn0 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.shared, self.bn1, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.BatchNorm2d(c)
        self.post, self.bn3 = nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        x = F.relu(self.bn0(self.pre(x)))
        x = F.relu(self.bn1(self.shared(x)))
        x = F.relu(self.bn2(self.shared(x)))
        return F.relu(self.bn3(self.post(x)))

class DataDependentBlock(nn.Module):
    "Two convs, only one of which runs, chosen by the data: the trace sees one path, pruning would break the other."
    def __init__(self, c: int):
        super().__init__()
        self.small, self.large = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return F.relu(self.small(x) if x.abs().mean() < 100 else self.large(x))

class TinyNet(nn.Module):
    "Stem conv, two blocks of one kind, global pooling, classifier."
    def __init__(self, block: type, num_classes: int = 10, in_channels: int = 3, c: int = 8):
        super().__init__()
        self.stem, self.stem_bn = nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.block1, self.block2 = block(c), block(c)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.block2(self.block1(F.relu(self.stem_bn(self.stem(x)))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def nested_sequential(data) -> nn.Sequential:
    "A Sequential of Sequential(conv, bn, relu) blocks, some nested one level deeper: no custom module at all."
    def conv_bn(i, o): return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())
    return nn.Sequential(conv_bn(data.in_channels, 8), conv_bn(8, 16), nn.Sequential(conv_bn(16, 16), conv_bn(16, 16)),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, data.num_classes))


def ice_model(name: str, **kwargs):
    "A model from `create_model`, adapted to the data (small-image stem for 32 px)."
    return lambda data: create_model_for(data, name, **kwargs)

def torchvision_model(name: str, **kwargs):
    "A torchvision model that `create_model` does not know: torchvision's own ImageNet stem, 10 classes."
    return lambda data: torchvision.models.get_model(name, weights=None, num_classes=data.num_classes, **kwargs)

def custom(block: type):
    return lambda data: TinyNet(block, data.num_classes, data.in_channels)

def sequential(build: Callable):
    return build

BY = {ice_model: "create_model", torchvision_model: "torchvision (not in create_model)", custom: "custom nn.Module",
      sequential: "nn.Sequential only"}

@dataclass
class ZooModel:
    name: str
    build: Callable     # data -> a new dense model
    by: str             # how it is built, for the table
    fails: str = ""     # what fails, for a known failure of ice_nb

def zoo_model(name: str, how: Callable, *args, slow: bool = False, fails: tuple = (), **kwargs):
    "A model of the zoo. fails: (exception type, what fails, why) of a failure of ice_nb reported to the lead."
    marks = [pytest.mark.slow] if slow else []
    if fails:  # shown in the matrix until it is fixed; then the strict xfail turns red
        marks.append(pytest.mark.xfail(strict=True, raises=fails[0], reason=f"{fails[1]}: {fails[2]}"))
    return pytest.param(ZooModel(name, how(*args, **kwargs), BY[how], fails[1] if fails else ""), id=name, marks=marks)

MODELS = [
    zoo_model("resnet20", ice_model, "resnet20", width=8),
    zoo_model("resnet56", ice_model, "resnet56", width=8),
    zoo_model("resnet18", ice_model, "resnet18", slow=True),
    zoo_model("resnet50", ice_model, "resnet50", slow=True),
    zoo_model("wide_resnet50_2", ice_model, "wide_resnet50_2", slow=True),
    zoo_model("mobilenet_v2", ice_model, "mobilenet_v2"),
    zoo_model("mobilenet_v3_small", torchvision_model, "mobilenet_v3_small"),
    zoo_model("densenet121", ice_model, "densenet121", slow=True),
    zoo_model("vgg16_bn", ice_model, "vgg16_bn"),
    zoo_model("efficientnet_b0", torchvision_model, "efficientnet_b0"),
    zoo_model("regnet_x_400mf", torchvision_model, "regnet_x_400mf"),
    zoo_model("googlenet", torchvision_model, "googlenet", aux_logits=False, init_weights=True),
    zoo_model("convnext_tiny", torchvision_model, "convnext_tiny"),
    zoo_model("concat", custom, ConcatBlock),
    zoo_model("depthwise_separable", custom, DepthwiseSeparableBlock),
    zoo_model("grouped_conv", custom, GroupedBlock),
    zoo_model("shared_layer", custom, SharedBlock),
    zoo_model("nested_sequential", sequential, nested_sequential),
    zoo_model("data_dependent_branch", custom, DataDependentBlock),
]


def fresh(zoo: ZooModel, data) -> nn.Module:
    torch.manual_seed(0)
    return zoo.build(data)


@pytest.fixture(scope="module")
def data():
    return load_data("synthetic", val_size=4, synthetic_size=(12, 4), synthetic_shape=(3, 32))

@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

TABLE_HEAD = "| model | built by | result | units | params kept | MACs kept |\n|---|---|---|---|---|---|\n"

@pytest.fixture(scope="session")
def compat():
    "{model name: table row}; written to tests/artifacts/compat.md when every model of the zoo has a row."
    rows = {}
    yield rows
    names = [p.values[0].name for p in MODELS]
    if set(names) <= set(rows):
        versions = (f"torch {torch.__version__.split('+')[0]}, torchvision {torchvision.__version__.split('+')[0]}, "
                    f"Torch-Pruning {tp.__version__}")
        intro = (f"Two ICE steps at ratio 0.3 on 32x32 synthetic images (CIFAR ResNets at width 8), then the checks: "
                 f"pruning is exact, the pruned model runs, is smaller, and reloads with `load_pruned` "
                 f"({versions}; `tests/test_zoo.py`).\n\n")
        COMPAT.parent.mkdir(exist_ok=True)
        COMPAT.write_text(intro + TABLE_HEAD + "".join(rows[n] for n in names))

def row(zoo: ZooModel, result: str, units="", params_kept="", macs_kept="") -> str:
    return f"| {zoo.name} | {zoo.by} | {result} | {units} | {params_kept} | {macs_kept} |\n"


def config():
    "ICE with freezing and the pruning-aware LR; the trigger off, so that every step is fine-tuned (and checked)."
    return ICEConfig.paper(use_trigger=False, finetune_images=4, decision_images=4, probe_images=4,
                     batch_size=4, kd=False, criterion_batches=1, seed=0)


def readers(model: nn.Module, graph, producer: str) -> list:
    "[(layer name, channel dim, {producer channel: [that layer's input channels]})] for the layers reading `producer`."
    names, found = {m: n for n, m in model.named_modules()}, []
    for item in pruning_group(graph, model.get_submodule(producer)):
        layer = item.dep.target.module
        if graph.is_out_channel_pruning_fn(item.dep.handler) or not isinstance(layer, (nn.Conv2d, nn.Linear)): continue
        channels = {}
        for root, idx in zip(item.root_idxs, item.idxs): channels.setdefault(root, []).append(idx)
        found.append((names[layer], 1 if isinstance(layer, nn.Conv2d) else -1, channels))
    return found

def _zero_channels(dim: int, channels: torch.Tensor, module: nn.Module, args: tuple):
    return (args[0].index_fill(dim, channels, 0.0), *args[1:])

def assert_pruning_is_exact(dense: nn.Module, example: torch.Tensor, steps: int = STEPS):
    "Without fine-tuning, the pruned model computes what the dense model computes with the removed channels zeroed."
    pruned, cut = copy.deepcopy(dense).eval(), copy.deepcopy(dense).eval()
    units = find_units(pruned, example)
    for unit in units[:steps]:
        reading = {g.producer: readers(pruned, units.graph, g.producer) for g in unit.groups}
        for producer, removed in prune_unit(pruned, unit, 0.3, "l1").removed.items():
            for layer, dim, channels in reading[producer]:
                zero = torch.tensor([c for r in removed for c in channels[r]])
                cut.get_submodule(layer).register_forward_pre_hook(partial(_zero_channels, dim, zero))
        with torch.no_grad():
            expected, got = cut(X), pruned(X)
        error = float((got - expected).abs().max() / expected.abs().max())
        assert error < 1e-4, f"after pruning {unit.name}, the kept channels compute something else (relative error {error:.2g})"


@pytest.mark.parametrize("zoo", MODELS)
def test_zoo(zoo, data, compat, tmp_path):
    compat[zoo.name] = row(zoo, f"known failure: {zoo.fails}" if zoo.fails else "**failed** (see the test log)")
    model = fresh(zoo, data)
    dense = copy.deepcopy(model)
    session = PruningSession(model, data, ratio=0.3, config=config(), device="cpu")
    try:
        session.setup()
    except UnsupportedModelError as e:
        message = str(e).splitlines()[0]
        assert "ignored" in message or "granularity" in message, f"the error gives no workaround: {message}"
        compat[zoo.name] = row(zoo, f"clear error: {message}")
        return
    assert_pruning_is_exact(dense, session.example_input)

    records = [session.step() for _ in range(min(STEPS, len(session.units)))]
    for r in records:
        assert r.fine_tuned and r.acc_finetuned is not None and r.finetune_batches == 1, r
        assert r.channels_after < r.channels_before, r
        assert r.params_after < r.params_before and r.macs_after < r.macs_before, r
    model = session.model.eval()
    with torch.no_grad():
        out = model(X)
    assert out.shape == (len(X), data.num_classes) and torch.isfinite(out).all()
    assert count_macs_and_params(model, session.example_input) == (records[-1].macs_after, records[-1].params_after)

    save_pruned(model, tmp_path / "pruned.pt")
    loaded = load_pruned(fresh(zoo, data), tmp_path / "pruned.pt").eval()
    assert sum(p.numel() for p in loaded.parameters()) == records[-1].params_after
    with torch.no_grad():
        torch.testing.assert_close(loaded(X), out, rtol=1e-4, atol=1e-4)  # channels_last vs NCHW: not bitwise
    summary = session.summary()
    compat[zoo.name] = row(zoo, "OK", len(session.units), f"{summary['params_kept']:.1%}", f"{summary['macs_kept']:.1%}")


def test_the_zoo_builds_each_model_with_create_model_where_it_can():
    built_elsewhere = [p.values[0].name for p in MODELS if p.values[0].by == BY[torchvision_model]]
    known = [n for n in built_elsewhere if n in model_names()]
    assert not known, f"create_model now knows {known}: build them with ice_model in MODELS"


def test_compat_table_replaces_only_the_text_between_the_markers():
    from compat_table import END, START, with_table
    readme = f"# ice_nb\n\n## Compatibility\n\n{START}\nold table\n{END}\n\n## Compared with other tools\n"
    updated = with_table(readme, "| model |\n|---|\n")
    assert updated == f"# ice_nb\n\n## Compatibility\n\n{START}\n| model |\n|---|\n{END}\n\n## Compared with other tools\n"
    assert with_table(updated, "| model |\n|---|\n") == updated
    with pytest.raises(ValueError, match="needs one line"):
        with_table("# ice_nb\n", "| model |")
    with pytest.raises(ValueError, match="needs one line"):
        with_table(f"{END}\n{START}\n", "| model |")
