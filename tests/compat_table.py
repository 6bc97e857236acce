"""Copy the model-zoo compatibility table (tests/artifacts/compat.md, written by `pytest tests/test_zoo.py`) into
README.md, between the lines `<!-- compat:start -->` and `<!-- compat:end -->`.

    python tests/compat_table.py
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- compat:start -->", "<!-- compat:end -->"


def with_table(readme: str, table: str) -> str:
    "`readme` with the text between the compat markers replaced by `table`."
    if readme.count(START) != 1 or readme.count(END) != 1 or readme.index(START) > readme.index(END):
        raise ValueError(f"README.md needs one line {START} followed by one line {END}, around the table")
    head, rest = readme.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{table.strip()}\n{END}{tail}"


def main(table_file: Path = ROOT / "tests" / "artifacts" / "compat.md", readme_file: Path = ROOT / "README.md") -> int:
    if not table_file.exists():
        print(f"no {table_file}: run `python -m pytest tests/test_zoo.py` (every model) first", file=sys.stderr)
        return 1
    readme = readme_file.read_text()
    try:
        updated = with_table(readme, table_file.read_text())
    except ValueError as e:
        print(e, file=sys.stderr)
        return 1
    readme_file.write_text(updated)
    print(f"{readme_file.name}: compatibility table {'updated' if updated != readme else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
