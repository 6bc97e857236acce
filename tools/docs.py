"""ice_nb's documentation, built from the notebooks.

    python tools/docs.py readme   # run nbs/index.ipynb (its tables read docs/bench/), keep its outputs, write README.md
    python tools/docs.py site     # the site in _docs/: nbdev-docs (Quarto) where `quarto` is installed, else nbconvert
    python tools/docs.py check    # every public name of the package has its entry on its page of _docs/

Both routes start from nbdev's processed notebooks (`_proc/`: front matter, `show_doc` for every exported
name, doc links). Quarto cannot be installed offline (its PyPI package downloads the binary), so the
same pages are then rendered with nbconvert, one HTML page per notebook with a sidebar.
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS, SITE = ROOT / "nbs", ROOT / "_docs"


def _directives(source: str) -> tuple[dict, str]:
    "A code cell's `#| key: value` lines as a dict, and its source without them."
    found, kept = {}, []
    for line in source.splitlines():
        match = re.match(r"^#\|\s*([\w-]+)\s*:?\s*(.*)$", line)
        if match: found[match[1]] = match[2].strip()
        else: kept.append(line)
    return found, "\n".join(kept).strip("\n")


def _outputs_text(cell) -> str:
    "What a cell printed or displayed, as markdown."
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream": parts.append("".join(out["text"]))
        elif "text/markdown" in out.get("data", {}): parts.append("".join(out["data"]["text/markdown"]))
        elif "text/plain" in out.get("data", {}): parts.append("```\n" + "".join(out["data"]["text/plain"]) + "\n```")
    return "\n".join(p.rstrip("\n") for p in parts)


def run_index(path: Path = NBS / "index.ipynb"):
    "Execute `path`'s code cells in its folder and save it with their outputs."
    from execnb.shell import CaptureShell
    from fastcore.nbio import read_nb, write_nb
    nb = read_nb(path)
    here = os.getcwd()
    os.chdir(path.parent)   # the notebook's paths are relative to its folder, as in Jupyter
    try: CaptureShell().run_all(nb, exc_stop=True)
    finally: os.chdir(here)
    write_nb(nb, path)
    subprocess.run([Path(sys.executable).parent / "nbdev-clean", "--fname", str(path)], check=True, cwd=ROOT)   # this venv's
    return nb


def readme_text(path: Path = NBS / "index.ipynb") -> str:
    "README.md from the notebook at `path`: its markdown, its visible code, and what its code printed."
    nb = json.loads(path.read_text())
    parts = []
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown": parts.append(source.strip("\n"))
        elif cell["cell_type"] == "code":
            found, code = _directives(source)
            if "hide" in found: continue
            if found.get("echo") != "false" and code: parts.append(f"```python\n{code}\n```")
            if found.get("output") != "false" and _outputs_text(cell): parts.append(_outputs_text(cell))
    return "<!-- generated from nbs/index.ipynb by `make readme`: edit the notebook, not this file -->\n\n" + \
        "\n\n".join(parts) + "\n"


def readme():
    run_index()
    (ROOT / "README.md").write_text(readme_text())
    print("README.md written from nbs/index.ipynb")


def _front_matter(cell) -> dict:
    "The YAML front matter nbdev puts in a raw cell (title, description, output-file)."
    import yaml
    return yaml.safe_load("".join(cell["source"]).strip().strip("-")) or {}


def _page_html(nb_path: Path, nav: str, depth: int) -> tuple[str, str]:
    "(output file, HTML) of one processed notebook."
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    nb = nbformat.read(nb_path, as_version=4)
    meta = {}
    cells = []
    for cell in nb.cells:
        for key in set(cell) - {"cell_type", "id", "metadata", "source", "outputs", "execution_count", "attachments"}:
            del cell[key]   # nbdev's processing marks (has_sd, ...), which nbformat's schema refuses
        cell.metadata = nbformat.NotebookNode(tags=[])
        if cell.cell_type == "raw" and not meta:
            meta = _front_matter(cell); continue
        if cell.cell_type == "code":
            found, cell.source = _directives(cell.source)
            if "hide" in found: continue
            if found.get("echo") == "false" or not cell.source: cell.metadata.tags.append("remove_input")
        cells.append(cell)
    nb.cells = cells
    config = Config()
    config.TagRemovePreprocessor.remove_input_tags = {"remove_input"}
    config.TagRemovePreprocessor.enabled = True
    body, _ = HTMLExporter(config=config, template_name="basic").from_notebook_node(nb)
    body = re.sub(r'(<h[1-6] id=")([^"]+)(")', lambda m: m[1] + m[2].lower() + m[3], body)   # nbdev's anchors: lower case
    prefix = "../" * depth or "./"
    body = re.sub(r'href="/(?!/)', f'href="{prefix}', body)
    title = html.escape(meta.get("title", nb_path.stem))
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title} – ice_nb</title>
<link rel="stylesheet" href="{prefix}style.css"></head>
<body><nav>{nav.replace('href="', f'href="{prefix}')}</nav><main>
<h1>{title}</h1><p class="description">{html.escape(meta.get("description", ""))}</p>
{body}
</main></body></html>
"""
    out = meta.get("output-file", nb_path.stem + ".html")
    return str(nb_path.parent.relative_to(ROOT / "_proc") / out), page


STYLE = """body{margin:0;display:flex;font:15px/1.55 system-ui,sans-serif;color:#222}
nav{width:230px;flex:none;padding:1em;background:#f6f7f9;height:100vh;overflow:auto;position:sticky;top:0}
nav a{display:block;padding:2px 0;color:#245;text-decoration:none}nav h4{margin:1em 0 .3em}
main{max-width:980px;padding:1em 2.5em;overflow:auto}pre{background:#f4f4f4;padding:.6em;overflow:auto}
.description{color:#555;font-style:italic}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px}
.prompt,.jp-InputPrompt,.jp-OutputPrompt,.anchor-link{display:none}img{max-width:100%}
"""


def _needed_for_docs(cell) -> bool:
    "Run only what `show_doc` needs (exported cells, import-only cells, show_doc calls), never a test cell."
    import ast
    if cell.cell_type != "code" or not cell.source or cell.source.lstrip().startswith("%"): return False
    if cell.directives_.keys() & {"export", "exports", "exporti", "exec_doc"}: return True
    try: tree = ast.parse("\n".join(l for l in cell.source.splitlines() if not l.startswith("#|")))
    except SyntaxError: return False
    if tree.body and all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in tree.body): return True
    return "show_doc(" in cell.source


def _in_its_folder(process):
    "`process(src, ...)` run from `src`'s folder: notebooks read their files relative to it, as in Jupyter."
    def run(src, *args):
        here = os.getcwd()
        os.chdir(Path(src).parent)
        try: return process(src, *args)
        finally: os.chdir(here)
    return run


def site():
    "Build _docs/: with Quarto through nbdev-docs when it is installed, else with nbconvert."
    import nbdev.processors
    import nbdev.serve_drv
    nbdev.processors._do_eval = _needed_for_docs   # both routes process the notebooks in this process, with these
    nbdev.serve_drv.exec_nb = _in_its_folder(nbdev.serve_drv.exec_nb)
    if shutil.which("quarto"):
        from nbdev.quarto import nbdev_docs
        nbdev_docs.__wrapped__(n_workers=0)
        return
    from nbdev.serve import proc_nbs
    proc = proc_nbs(n_workers=0)
    notebooks = sorted(p for p in proc.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    notebooks.sort(key=lambda p: (p.stem != "index", len(p.relative_to(proc).parts), str(p)))
    titles = {p: _front_matter(json.loads(p.read_text())["cells"][0]).get("title", p.stem) for p in notebooks}
    links, section = [], None
    for p in notebooks:
        folder = p.parent.relative_to(proc).as_posix()
        if folder != section and folder != ".":
            links.append(f"<h4>{html.escape(folder.title())}</h4>")
        section = folder
        target = p.relative_to(proc).with_suffix(".html").as_posix()
        links.append(f'<a href="{target}">{html.escape(titles[p])}</a>')
    nav = "\n".join(links)
    shutil.rmtree(SITE, ignore_errors=True)
    SITE.mkdir()
    for p in notebooks:
        out, page = _page_html(p, nav, len(p.relative_to(proc).parts) - 1)
        (SITE / out).parent.mkdir(parents=True, exist_ok=True)
        (SITE / out).write_text(page)
    (SITE / "style.css").write_text(STYLE)
    shutil.copytree(ROOT / "docs", SITE / "docs")   # the README's images and benchmark files
    print(f"_docs/: {len(notebooks)} pages (nbconvert; install Quarto for nbdev's own site)")


def missing_entries() -> list[str]:
    "Public names of the package (from _modidx.py) whose page in _docs/ has no entry for them."
    sys.path.insert(0, str(ROOT))
    from ice_nb._modidx import d
    missing = []
    for module, syms in d["syms"].items():
        for name, (link, _) in syms.items():
            if any(part.startswith("_") for part in name.split(".")[1:]): continue
            page, anchor = link.split("#")
            text = (SITE / page).read_text() if (SITE / page).exists() else ""
            if f'id="{anchor}"' not in text: missing.append(f"{name} ({link})")
    return missing


def check():
    missing = missing_entries()
    if missing: sys.exit("no entry on its documentation page for:\n  " + "\n  ".join(missing))
    print("every public name has its entry in _docs/")


if __name__ == "__main__":
    commands = dict(readme=readme, site=site, check=check)
    if len(sys.argv) != 2 or sys.argv[1] not in commands: sys.exit(__doc__)
    commands[sys.argv[1]]()
