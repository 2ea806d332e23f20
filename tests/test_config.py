"""models.toml and recipes: valid files load; invalid ones get one line with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeprof.errors import EdgeprofError
from edgeprof.quantize.recipes import load_recipe, recipe_names
from edgeprof.workflow.models_file import load_models_file

REPO = Path(__file__).resolve().parent.parent


def test_shipped_models_toml_profiles_the_demo():
    models = load_models_file(REPO / "models.toml")
    (demo,) = models.models
    assert demo.source == "demo" and demo.recipe == "demo"
    assert demo.levels == ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K")
    assert models.output_dir == REPO / "results"


def test_every_shipped_recipe_loads():
    assert {"demo", "common", "full", "small"} <= set(recipe_names())
    for name in recipe_names():
        assert load_recipe(name).levels


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(text)
    return path


GOOD = '[[models]]\nname = "a"\nsource = "demo"\nquant = ["Q4_K_M"]\n'


@pytest.mark.parametrize("text, message", [
    ('[[models]]\nname = "a"\nsource = "demo"\nquant = ["Q4_K_M"\n', "models.toml:4: invalid TOML"),
    (GOOD + 'qaunt = "demo"\n', "line 5, models[0].qaunt: unknown key 'qaunt' (did you mean 'quant'?)"),
    (GOOD + '\n[[models]]\nname = "b"\n', "line 6, models[1]: missing required key 'source'"),
    (GOOD.replace('"Q4_K_M"', '"Q4_K_Z"'), "line 4, models[0].quant: unknown quantization level 'Q4_K_Z'"),
    (GOOD.replace('quant = ["Q4_K_M"]', 'quant = 4'), "line 4, models[0].quant: 'quant' must be a recipe name"),
    (GOOD.replace('quant = ["Q4_K_M"]', 'quant = "nosuch"'), "unknown quantization recipe 'nosuch'"),
    (GOOD + 'outtype = "f8"\n', "line 5, models[0].outtype: outtype must be one of auto, f16, bf16, f32"),
    (GOOD + GOOD, "name 'a' is used twice"),
    ('output_dri = "x"\n' + GOOD, "top level: unknown key 'output_dri' (did you mean 'output_dir'?)"),
    ("models = []\n", "lists no models"),
    ('[[models]]\nname = 3\nsource = "demo"\n', "line 2, models[0].name: 'name' must be a string, got int"),
])
def test_invalid_models_file(tmp_path, text, message):
    with pytest.raises(EdgeprofError) as info:
        load_models_file(write(tmp_path, text))
    assert message in str(info.value)
    assert str(tmp_path / "models.toml") in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_models_file(tmp_path):
    with pytest.raises(EdgeprofError, match="no such file"):
        load_models_file(tmp_path / "nope.toml")
