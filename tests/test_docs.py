"""The README is nbs/index.ipynb rendered, and its figures are read from the benchmark's files, not typed in."""
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import docs  # noqa: E402


def test_readme_is_the_index_notebook_rendered():
    assert (ROOT / "README.md").read_text() == docs.readme_text(ROOT / "nbs" / "index.ipynb"), \
        "README.md is out of date: run `make readme` and commit both"


def test_readme_figures_follow_the_benchmark_files(tmp_path):
    (tmp_path / "nbs").mkdir()
    shutil.copy(ROOT / "nbs" / "index.ipynb", tmp_path / "nbs")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    results = tmp_path / "docs" / "bench" / "quick-cpu.json"
    saved = json.loads(results.read_text())
    baseline, before = saved["results"]["baseline"]["seconds"], saved["results"]["ice_nb"]["seconds"]
    saved["results"]["ice_nb"]["seconds"] = baseline / 7.25    # a run that a new benchmark might have written
    results.write_text(json.dumps(saved))
    docs.run_index(tmp_path / "nbs" / "index.ipynb")
    text = docs.readme_text(tmp_path / "nbs" / "index.ipynb")
    assert "| ice_nb | " + f"{baseline / 7.25:.1f} | 7.25x |" in text
    assert "ice_nb is 7.2x faster than the baseline" in text
    assert f"| ice_nb | {before:.1f} |" not in text
