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
    (GOOD.replace('"Q4_K_M"', '"IQ2_XS"'), "line 4, models[0].quant: quantization level IQ2_XS needs an importance "
     'matrix: add imatrix = "CORPUS" to this model'),
    (GOOD + 'imatrix = "gsm8k_text"\nimatrix_ctx = 8\n', "line 6, models[0].imatrix_ctx: imatrix_ctx 8: out of "
     "range; use a whole number from 16 to"),
    (GOOD + 'imatrix = "gsm8k_text"\nimatrix_ctx = "512"\n', "line 6, models[0].imatrix_ctx: 'imatrix_ctx' must "
     "be an integer, got str"),
    (GOOD + 'imatrix = "gsm8k_text"\nimatrix_chunks = 0\n', "line 6, models[0].imatrix_chunks: imatrix_chunks 0: "
     "out of range"),
    (GOOD + "imatrix_ctx = 256\n", "line 5, models[0].imatrix_ctx: imatrix_ctx needs imatrix (the corpus"),
    (GOOD + 'imatrix = "gsm8k_txt"\n', "line 5, models[0].imatrix: imatrix 'gsm8k_txt' is not a file beside "
     "models.toml, nor a text corpus: unknown task 'gsm8k_txt' (did you mean 'gsm8k_text'?)"),
    (GOOD + 'imatrix = "hellaswag"\n', "line 5, models[0].imatrix: imatrix 'hellaswag' is a choice task, not a "
     "text corpus"),
    (GOOD + "imatrix = 1\n", "line 5, models[0].imatrix: 'imatrix' must be a string, got int"),
])
def test_invalid_models_file(tmp_path, text, message):
    with pytest.raises(EdgeprofError) as info:
        load_models_file(write(tmp_path, text))
    assert message in str(info.value)
    assert str(tmp_path / "models.toml") in str(info.value)
    assert "\n" not in str(info.value)


def test_imatrix_keys_allow_the_levels_that_need_a_matrix(tmp_path):
    project = tmp_path / "project"  # the tests run in tmp_path: the file must be found from models.toml
    (project / "corpora").mkdir(parents=True)
    (project / "corpora" / "notes.txt").write_text("some text")
    text = GOOD.replace('"Q4_K_M"', '"IQ2_XS", "q4_k_m"') + 'imatrix = "corpora/notes.txt"\nimatrix_ctx = 64\n'
    text += 'imatrix_chunks = 4\n\n[[models]]\nname = "b"\nsource = "demo"\nquant = ["Q2_K_S"]\n'
    text += 'imatrix = "gsm8k_text"\n'
    first, second = load_models_file(write(project, text)).models
    assert first.levels == ("IQ2_XS", "Q4_K_M")
    # relative to models.toml, not to the folder the command runs in
    assert (first.imatrix, first.imatrix_ctx, first.imatrix_chunks) == (str(project / "corpora" / "notes.txt"), 64, 4)
    assert (second.levels, second.imatrix, second.imatrix_ctx, second.imatrix_chunks) == (
        ("Q2_K_S",), "gsm8k_text", 512, None)
    plain = load_models_file(write(tmp_path, GOOD)).models[0]
    assert plain.imatrix is None
    # `convert --models FILE --imatrix CORPUS` gives every model a matrix
    given = load_models_file(write(tmp_path, GOOD.replace('"Q4_K_M"', '"IQ2_XS"')), imatrix_given=True)
    assert given.models[0].levels == ("IQ2_XS",)


def test_missing_models_file(tmp_path):
    with pytest.raises(EdgeprofError, match="no such file"):
        load_models_file(tmp_path / "nope.toml")
