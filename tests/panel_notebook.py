"""The notebook the browser test opens: a tiny pruning session shown in `ICEPanel`.

`python tests/panel_notebook.py panel.ipynb` writes it for a look by hand in JupyterLab."""
import json
import sys
from pathlib import Path

SESSION = """\
import torch
from ice_nb.data import load_data
from ice_nb.train import pretrain
from ice_nb.session import ICEConfig, PruningSession

torch.manual_seed(0)
data = load_data("synthetic", val_size=200, synthetic_size=(800, 200))
dense, _ = pretrain("resnet20", data, epochs=3, lr=0.1, batch_size=64, device="cpu", cache_dir=None,
                    model_kwargs=dict(width=8), progress=False)
config = ICEConfig(batch_size=64, decision_images=200, finetune_images=192, probe_images=64,
                   base=0.01, delta=0.007, probe_lr=0.01, thre=0.0)
session = PruningSession(dense, data, ratio=0.5, config=config, device="cpu")"""

PANEL = """\
from ice_nb.panel import ICEPanel
ICEPanel(session)"""


def panel_notebook() -> dict:
    "The notebook as an nbformat-4.5 dict: one code cell builds the session, the next shows its panel."
    code = [dict(cell_type="code", id=f"cell-{i}", metadata={}, source=src, outputs=[], execution_count=None)
            for i, src in enumerate((SESSION, PANEL))]
    kernel = dict(name="python3", display_name="Python 3 (ipykernel)", language="python")
    return dict(cells=code, metadata=dict(kernelspec=kernel), nbformat=4, nbformat_minor=5)


def write_panel_notebook(path) -> Path:
    "Write the panel notebook to `path`; returns the path."
    path = Path(path)
    path.write_text(json.dumps(panel_notebook(), indent=1))
    return path


if __name__ == "__main__":
    print(write_panel_notebook(sys.argv[1] if len(sys.argv) > 1 else "panel.ipynb"))
