"""Every gallery recipe whose engines are registered runs in --quick mode and passes its own
checks (theory vs simulation, published values); the others are not listed."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from solvable.experiments import gallery
from solvable.cli import main

ALL = sorted(gallery.RECIPES)


def test_recipes_listed_only_when_available(capsys):
    listed = {r.name for r in gallery.recipes()}
    for name, r in gallery.RECIPES.items():
        assert (name in listed) == r.available()
        if not r.available():
            with pytest.raises(ValueError, match="not available"):
                gallery.get_recipe(name)
    main(["list"])
    out = capsys.readouterr().out
    for name in ALL:
        assert (f"  {name} " in out) == (name in listed)


def test_every_recipe_names_a_reference_and_has_a_title():
    assert {"perceptron", "double-descent", "spiked-wigner", "saad-solla"} <= set(ALL)
    for r in gallery.RECIPES.values():
        assert r.title and r.reference and r.requires


@pytest.mark.parametrize("name", ALL)
def test_recipe_quick(name, tmp_path, capsys):
    r = gallery.RECIPES[name]
    if not r.available():
        pytest.skip(f"{name} needs {r.missing()}")
    code = main(["reproduce", name, "--quick", "--out", str(tmp_path), "--executor", "serial", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "all checks passed" in out and "FAIL" not in out
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
    assert (tmp_path / f"{name}.csv").exists()


def test_a_failed_check_exits_1(monkeypatch, tmp_path, capsys):
    def bad(quick=False, out=None, **run):
        import pandas as pd

        return gallery.RecipeResult("bad", pd.DataFrame(), [gallery.Check("a number", 1.0, 2.0, 0.1)])

    monkeypatch.setitem(gallery.RECIPES, "bad", gallery.Recipe("bad", "t", "r", (), bad))
    assert main(["reproduce", "bad", "--out", str(tmp_path)]) == 1
    assert "FAIL a number: 1 vs 2" in capsys.readouterr().out


def test_bounds_read_as_bounds():
    """A check of an inequality prints as one (``0.02 >= 1e-06``), not as ``0.02 vs 0.02 (tol 0)``."""
    ok = gallery.Check.at_least("gap", 0.02, 1e-6, "src")
    assert ok.passed and str(ok) == "ok   gap: 0.02 >= 1e-06  [src]"
    assert not gallery.Check.at_least("gap", -0.1, 0.0).passed
    assert gallery.Check.at_least("gap", -1e-13, 0.0, tol=1e-12).passed
    assert gallery.Check.at_most("err", 1e-6, 1e-5).passed and not gallery.Check.at_most("err", 1e-4, 1e-5).passed
    assert not gallery.Check.at_least("nan", float("nan"), 0.0).passed
    assert "vs" in str(gallery.Check("x", 1.0, 1.0, 0.1))
