"""`edgeprof report`: the leaderboard and its rule, the advice sentence, the full tables, and the
self-contained HTML page opened in headless Chromium (its images must load)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeprof.cli.main import cli
from edgeprof.plot.leaderboard import Budget, entries, recommendation
from edgeprof.results.read import load_results

RECORDED = Path(__file__).parent / "fixtures" / "recorded"
GPU, CPU, DEMO = RECORDED / "h100", RECORDED / "vm-2core", RECORDED / "demo-vm"


def klds(folder: Path) -> dict[str, float]:
    out = {}
    for line in (folder / "bench.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["kind"] == "perplexity":
            out[row["model"]["level"]] = 0.0 if row["baseline"]["is_self"] else row["metrics"]["kld_mean"]
    return out


def test_leaderboard_ranks_by_speed_within_the_kld_budget():
    results = load_results([DEMO])
    device = results.devices[0]
    board = entries(results, device, Budget(max_kld=0.05))
    known = klds(DEMO)
    inside = [e for e in board if e.fails is None]
    assert {e.level for e in inside} == {lv for lv, k in known.items() if k <= 0.05}
    assert [e.tg_tps for e in inside] == sorted((e.tg_tps for e in inside), reverse=True)
    assert board[: len(inside)] == inside  # qualifying levels first
    assert all(e.fails.startswith("KLD ") for e in board[len(inside):])
    everyone = entries(results, device, Budget())
    assert all(e.fails is None for e in everyone)
    assert [e.tg_tps for e in everyone] == sorted((e.tg_tps for e in everyone), reverse=True)


def test_recommendation_states_the_speedup_and_its_cost():
    results = load_results([DEMO])
    device = results.devices[0]
    board = entries(results, device, Budget(max_kld=0.05))
    best = next(e for e in board if e.fails is None)
    q8 = next(e for e in board if e.level == "Q8_0")
    text = recommendation(device, board, Budget(max_kld=0.05))
    if best.level == "Q8_0":
        assert text.startswith(f"On {device}, SmolLM2-135M-Instruct Q8_0 is the fastest level within the budget")
    else:
        assert f"gives {best.tg_tps / q8.tg_tps:.2f}x the decode speed of Q8_0" in text
        assert f"{best.kld - q8.kld:+.3f} KLD" in text
        overlap = best.tg_tps - best.tg_std <= q8.tg_tps + q8.tg_std
        assert ("within one standard deviation" in text) == overlap
    nothing = recommendation(device, entries(results, device, Budget(max_kld=0.0)), Budget(max_kld=0.0))
    assert nothing.startswith(f"On {device}, SmolLM2-135M-Instruct F16 ")  # only the baseline has KLD 0


def test_accuracy_budget_names_the_task():
    results = load_results([DEMO])
    budget = Budget(min_acc=0.99, task="hellaswag")
    board = entries(results, results.devices[0], budget)
    assert all(e.fails and e.fails.startswith("accuracy ") for e in board)
    assert "hellaswag >= 0.99" in budget.rule("hellaswag")


def make_report(tmp_path: Path, *folders: Path) -> tuple[Path, Path]:
    result = CliRunner().invoke(cli, ["report", *[a for f in folders for a in ("--results", str(f))],
                                      "--out", str(tmp_path / "report"), "--max-kld", "0.05"])
    assert result.exit_code == 0, result.output
    return tmp_path / "report" / "report.md", tmp_path / "report" / "report.html"


def test_report_markdown_has_every_part(tmp_path):
    md, page = make_report(tmp_path, GPU, CPU, DEMO)
    text = md.read_text()
    for heading in ("## Summary", "## Leaderboard", "### H100", "### vm-2core", "### vm", "## Figures",
                    "## All measurements", "## Hardware and software", "## How to read the numbers"):
        assert heading in text, heading
    assert "Rule: ranked by decode tokens/s (fastest first) among the levels with mean KLD" in text
    assert "NVIDIA H100 80GB HBM3" in text and "AMD EPYC" in text
    assert re.search(r"\| \d+\.\d ± \d+\.\d \|", text)  # spreads in the full table
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (md.parent / link).is_file(), link
    html = page.read_text()
    assert not re.search(r"(src|href)=\"(https?:|file:|//)", html)  # nothing fetched from anywhere
    assert html.count("<img src=\"data:image/png;base64,") == len(re.findall(r"!\[", text))


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROBE = ("<script>window.addEventListener('load', () => { const imgs = [...document.images];"
         " document.body.dataset.images = imgs.length;"
         " document.body.dataset.loaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;"
         " document.body.dataset.tables = document.querySelectorAll('table').length; });</script>")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed "
                    "(the README's test command installs it)")
def test_html_report_renders_in_headless_chromium(tmp_path):
    _, page = make_report(tmp_path, GPU, CPU)
    probe = tmp_path / "probe.html"  # the report plus a script that counts the images that loaded
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(["chromium", *CHROMIUM_FLAGS, *profile, "--virtual-time-budget=5000", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    images = int(re.search(r'data-images="(\d+)"', dom).group(1))
    assert images >= 10
    assert re.search(r'data-loaded="(\d+)"', dom).group(1) == str(images)
    assert int(re.search(r'data-tables="(\d+)"', dom).group(1)) >= 4
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", *CHROMIUM_FLAGS, *profile, "--window-size=1200,3000", f"--screenshot={shot}",
                    page.as_uri()], capture_output=True, timeout=120)
    import matplotlib.image
    import numpy as np

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (3000, 1200)
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 100  # text and plots, not blank


def test_advice_says_when_the_speeds_are_within_noise():
    from edgeprof.plot.leaderboard import Entry

    def entry(level, tg, std, kld):
        return Entry("m", level, 100.0, 8.0, tg, std, 500.0, 50.0, kld, None, False, None)

    clear = recommendation("pi", [entry("Q4_K_M", 20.0, 0.5, 0.04), entry("Q8_0", 10.0, 0.5, 0.003)], Budget(0.05))
    assert clear.startswith("On pi, m Q4_K_M gives 2.00x the decode speed of Q8_0 (20.0 vs 10.0 t/s) for +0.037 KLD")
    assert "standard deviation" not in clear
    noisy = recommendation("pi", [entry("Q4_K_M", 11.0, 1.0, 0.04), entry("Q8_0", 10.0, 1.0, 0.003)], Budget(0.05))
    assert "within one standard deviation" in noisy


# --- accuracy noise (issue 15, item 6) ---------------------------------------------------------

def demo_outcomes() -> dict[str, dict[str, int]]:
    """level -> question id -> acc_norm, read straight from the demo's per-example files."""
    out = {}
    for line in (DEMO / "bench.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["kind"] == "task":
            lines = (DEMO / row["details"]).read_text().splitlines()
            out[row["model"]["level"]] = {o["id"]: o["acc_norm"] for o in map(json.loads, lines)}
    return out


def test_demo_per_example_files_reproduce_the_recorded_accuracies():
    """The fixture's tasks/*.jsonl (rescored with the same files, sha256-identical) give back every
    recorded acc_norm, so the paired tests below test the answers behind the recorded numbers."""
    outcomes = demo_outcomes()
    for line in (DEMO / "bench.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["kind"] == "task":
            answers = outcomes[row["model"]["level"]]
            assert len(answers) == row["metrics"]["n"] == 20
            assert sum(answers.values()) / len(answers) == pytest.approx(row["metrics"]["acc_norm"])


def test_statistics_against_known_values():
    from edgeprof.plot.noise import interval95, mcnemar_p

    assert mcnemar_p(1, 3) == pytest.approx(0.625)  # 2 * (1 + 4) / 16
    assert mcnemar_p(0, 6) == pytest.approx(0.03125)
    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(5, 5) == 1.0
    low, high = interval95(0.55, 20)  # Wilson, 11 of 20: 0.342-0.742 in the usual tables
    assert (round(low, 3), round(high, 3)) == (0.342, 0.742)
    assert interval95(0.0, 20)[0] == 0.0 and interval95(1.0, 20)[1] == 1.0


@pytest.mark.parametrize(("worse", "better", "n"), [(0, 2, 20), (1, 3, 20), (2, 6, 100), (5, 15, 200)])
def test_questions_needed_gives_about_80_percent_power(worse, better, n):
    """Simulated: at the estimated question count, McNemar's exact test finds the observed gap in
    about 80% of samples (Connor's formula is an approximation; the exact test is conservative)."""
    import numpy as np

    from edgeprof.plot.noise import mcnemar_p, paired_questions_needed

    needed = paired_questions_needed(worse, better, n)
    draws = np.random.default_rng(0).multinomial(needed, [worse / n, better / n, 1 - (worse + better) / n], 3000)
    power = np.mean([mcnemar_p(int(a), int(b)) < 0.05 for a, b, _ in draws])
    assert 0.7 <= power <= 0.88, (needed, power)
    assert paired_questions_needed(2, 2, 20) is None  # no gap observed: no count would confirm one


def test_demo_report_calls_its_accuracy_a_smoke_test(tmp_path):
    """20 questions cannot rank the demo's levels: the report says so, with the smallest paired p
    (computed here independently from the per-example files) and the questions that would tell the
    clearest pair apart; every accuracy in the leaderboard carries its standard error and interval."""
    import math
    from itertools import combinations

    outcomes = demo_outcomes()
    ps = []
    for a, b in combinations(outcomes.values(), 2):
        worse, better = sum(a[q] > b[q] for q in a), sum(b[q] > a[q] for q in a)
        k, m = min(worse, better), worse + better
        ps.append(min(1.0, 2 * sum(math.comb(m, i) for i in range(k + 1)) / 2**m) if m else 1.0)
    assert min(ps) >= 0.05  # the premise: nothing here is significant
    md, _ = make_report(tmp_path, DEMO)
    text = md.read_text()
    summary = text[text.index("## Summary"):text.index("## Leaderboard")]
    assert "Accuracy is a smoke test here, not a ranking" in summary
    assert f"smallest p = {min(ps):.2g} over {len(ps)} pairs" in summary
    assert re.search(r"would take about \d+ questions to confirm", summary)
    board = text[text.index("## Leaderboard"):text.index("## Figures")]
    cells = re.findall(r"\| (\d\.\d{3}) ± (\d\.\d{3}) \[(\d\.\d\d), (\d\.\d\d)\] \|", board)
    assert len(cells) == len(outcomes)
    for value, _, low, high in cells:
        assert float(low) < float(value) < float(high)


def test_advice_never_calls_a_level_more_accurate_inside_the_noise():
    """With a looser KLD budget the fastest level is Q3_K_M, whose 0.650 against Q8_0's 0.550 is
    3 questions against 1 of 20: the advice says 'the same accuracy within the noise', not +0.100."""
    results = load_results([DEMO])
    device = results.devices[0]
    budget = Budget(max_kld=0.2)
    board = entries(results, device, budget)
    assert board[0].level == "Q3_K_M" and board[0].acc - next(e.acc for e in board if e.level == "Q8_0") > 0.09
    text = recommendation(device, board, budget)
    assert "+0.100" not in text and "accuracy" not in text.replace("hellaswag acc_norm", "")
    assert "the same hellaswag acc_norm within the noise (0.650 vs 0.550, McNemar exact p = 0.62" in text
    assert "about 155 questions would tell them apart" in text  # Connor's formula, 1 vs 3 discordant of 20


def test_advice_states_an_accuracy_loss_the_paired_test_confirms():
    from edgeprof.plot.leaderboard import Entry
    from edgeprof.plot.quality import Accuracy

    def entry(level, tg, kld, right):  # 30 questions, the first ``right`` answered correctly
        answers = {f"q{i}": int(i < right) for i in range(30)}
        acc = Accuracy("hellaswag", "acc_norm", right / 30, None, 30, "m", level, answers)
        return Entry("m", level, 100.0, 8.0, tg, 0.1, 500.0, 50.0, kld, acc.value, False, None, acc)

    text = recommendation("pi", [entry("Q2_K", 20.0, 0.3, 15), entry("Q8_0", 10.0, 0.003, 25)], Budget())
    assert "for +0.297 KLD and -0.333 hellaswag acc_norm (McNemar exact p = 0.002, 10 of 30 questions" in text


def test_an_accuracy_budget_marks_levels_excluded_inside_the_noise():
    results = load_results([DEMO])
    board = entries(results, results.devices[0], Budget(min_acc=0.6, task="hellaswag"))
    failing = {e.level: e.fails for e in board if e.fails}
    assert failing["Q8_0"] == "accuracy 0.550 < 0.6 (95% interval 0.34–0.74 reaches it: within the noise)"
    assert {e.level for e in board if e.fails is None} == {"Q5_K_M", "Q3_K_M"}


def test_per_example_outcomes_are_read_from_the_row_folder_only(tmp_path):
    from edgeprof.results.details import task_outcomes

    row = next(json.loads(line) for line in (DEMO / "bench.jsonl").read_text().splitlines()
               if json.loads(line)["kind"] == "task")
    outcomes = task_outcomes((DEMO,), row)
    assert len(outcomes) == 20 and all(o["id"] == q for q, o in outcomes.items())
    assert task_outcomes((DEMO / "bench.jsonl",), row) == outcomes  # a folder given as its bench.jsonl
    assert task_outcomes((tmp_path,), row) is None  # rows copied without their tasks/ folder
    secret = tmp_path / "secret.jsonl"
    secret.write_text('{"id": "x", "acc_norm": 1}\n')
    (tmp_path / "results").mkdir()
    assert task_outcomes((tmp_path / "results",), {**row, "details": "../secret.jsonl"}) is None
    assert task_outcomes((tmp_path / "results",), {**row, "details": str(secret)}) is None


def test_levels_told_apart_are_named_and_only_those():
    """Enough questions and a real loss: the report names the level that differs, with its p, and
    calls the rest within the noise (no smoke-test label)."""
    from edgeprof.plot.noise import describe, is_smoke_test, verdicts
    from edgeprof.plot.quality import Accuracy

    def acc(level, wrong):  # 30 questions, the ones in ``wrong`` missed
        answers = {f"q{i}": int(i not in wrong) for i in range(30)}
        return {level: {"hellaswag": Accuracy("hellaswag", "acc_norm", sum(answers.values()) / 30, None, 30, "m",
                                               level, answers)}}

    (verdict,) = verdicts({**acc("F16", {0}), **acc("Q8_0", {1}), **acc("Q2_K", set(range(11)))})
    assert not is_smoke_test(verdict)
    assert describe(verdict) == (
        "hellaswag acc_norm of m on 30 questions: Q2_K below F16 (0.633 vs 0.967, McNemar exact p = 0.002, 10 of "
        "30 questions answered differently); the other levels are within the noise of F16; 1 of 1 pairs of the "
        "other levels differ beyond it (McNemar's exact test on each pair's paired answers, p < 0.05).")


def test_without_per_question_files_levels_are_compared_unpaired(tmp_path):
    """Rows copied without their tasks/ folder: a two-proportion z test stands in, and says so."""
    from edgeprof.plot.noise import describe, two_proportion_p, verdicts
    from edgeprof.plot.quality import accuracy_by_file

    folder = tmp_path / "rows-only"
    folder.mkdir()
    shutil.copy(DEMO / "bench.jsonl", folder / "bench.jsonl")
    (verdict,) = verdicts(accuracy_by_file(load_results([folder])))
    assert not any(c.paired for c in verdict.pairs)
    assert two_proportion_p(0.65, 20, 0.55, 20) == pytest.approx(0.5186, abs=1e-4)  # z = 0.1 / 0.1549 = 0.6455
    assert "two-proportion z tests, smallest p = 0.52 over 28 pairs; per-question outcomes not found" in \
        describe(verdict)
