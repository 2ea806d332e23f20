"""Bad paths on every command: nonexistent, a folder where a file is expected and the reverse,
outputs that cannot be written, names that would escape the output folder. Each is one line that
names the path (or name) and the problem, exit code 1, no traceback, nothing written."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from tiny import TinySpec

from edgeprof.cli.main import cli

ESCAPE = "not usable as a model name: a name must not contain / or \\, start with a dot"
CASES = {
    # name: (args with {model}/{ckpt} placeholders, the line's start, text it must hold)
    "bench: no such model": (["bench", "nope.gguf"], "nope.gguf", "no such file or directory"),
    "bench: a folder as model": (["bench", "adir"], "adir", "is a directory, expected a file"),
    "bench: results is a file": (["bench", "{model}", "--results", "afile"], "afile", "is a file, expected a folder"),
    "bench: results below a file": (["bench", "{model}", "-p", "8", "-n", "2", "-r", "1", "--results", "afile/sub"],
                                    "afile/sub", "afile is a file, so no folder can be made below it"),
    "bench: results not writable": (["bench", "{model}", "-p", "8", "-n", "2", "-r", "1", "--results",
                                     "/sys/edgeprof-test"], "/sys/edgeprof-test", "permission denied"),
    "bench: prompt file missing": (["bench", "{model}", "--prompt-file", "nofile"], "nofile", "no such file"),
    "bench: prompt file a folder": (["bench", "{model}", "--prompt-file", "adir"], "adir", "is a directory"),
    "bench: export to a folder": (["bench", "{model}", "--export-llama-bench", "adir"], "adir", "is a directory"),
    "bench: KLD baseline a folder": (["bench", "{model}", "--ppl", "x", "--kld-baseline", "adir"], "adir",
                                     "is a directory"),
    "convert: no such source": (["convert", "nope"], "nope", "no such file or directory"),
    "convert: out is a file": (["convert", "{ckpt}", "--out", "afile"], "afile", "is a file, expected a folder"),
    "convert: out not writable": (["convert", "{ckpt}", "--out", "/sys/edgeprof-test"], "/sys/edgeprof-test",
                                  "permission denied"),
    "convert: name climbs out": (["convert", "{ckpt}", "--name", "../escape", "--out", "out"], "'../escape'", ESCAPE),
    "convert: name with a folder": (["convert", "{ckpt}", "--name", "a/b", "--out", "out"], "'a/b'", ESCAPE),
    "convert: models file a folder": (["convert", "--models", "adir"], "adir", "is a directory"),
    "convert: models name climbs out": (["convert", "--models", "escape.toml", "--out", "out"],
                                        "escape.toml: line 3, models[0].name", ESCAPE),
    "plot: no such results": (["plot", "--results", "nope"], "nope", "no such file or directory"),
    "plot: out is a file": (["plot", "--results", "adir", "--out", "afile"], "afile", "is a file, expected a folder"),
    "report: no such results": (["report", "--results", "nope"], "nope", "no such file or directory"),
    "run: models file a folder": (["run", "adir"], "adir", "is a directory, expected a file"),
    "run: no such models file": (["run", "nope.toml"], "nope.toml", "no such file or directory"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_path_is_one_line_and_writes_nothing(case, tiny_factory, tmp_path):
    checkpoint, _, model = tiny_factory(TinySpec(tied=True))
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    (tmp_path / "escape.toml").write_text(f'[[models]]\nsource = "{checkpoint}"\nname = "../../escape"\n')
    before = sorted(p.name for p in tmp_path.rglob("*"))
    args, start, wanted = CASES[case]
    args = [a.format(model=model, ckpt=checkpoint) for a in args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: {start}: ") and result.output.count("\n") == 1, result.output
    assert wanted in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
