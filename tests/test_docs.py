"""The code blocks of the docs (docs/*.md) and the README (issue 15): every ```python block compiles (fast), and
every page's blocks run in order in one namespace, as a reader would paste them (slow: they simulate; about 4 min
on two cores).  docs/adding_a_family.md is excluded from the run: its blocks are excerpts of the source files of
solvable.families.curie_weiss (tested as a package), not a session."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[str]:
    return _BLOCK.findall(page.read_text())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_blocks_compile(page):
    for i, code in enumerate(blocks(page)):
        compile(code, f"{page.name}[block {i}]", "exec")


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p) and p.name != "adding_a_family.md"],
                         ids=lambda p: p.name)
def test_blocks_run(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "__docs__"}
    for i, code in enumerate(blocks(page)):
        if "doctest: +SKIP" in code or "# not run" in code:
            continue
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), ns)
        except Exception as e:  # noqa: BLE001 - report which block of which page
            raise AssertionError(f"{page.name}, block {i}: {type(e).__name__}: {e}\n{code}") from e
