"""imm_edu.bench in a reduced mode (one toy, few points, few NFE), and its bookkeeping on hand-made numbers."""
import json
import time

import pytest

from imm_edu import bench, digit_metrics, toy
from imm_edu.__main__ import main
from imm_edu.train_all import RECIPES


def test_reduced_bench_runs_fast_and_writes_table_and_plot(tmp_path):
    start = time.perf_counter()
    results = bench.run(["moons"], ["imm", "fm", "ddim"], nfe=(1, 8), n=300, progress=False)
    md, png, raw = bench.write(results, tmp_path, n=300)
    assert time.perf_counter() - start < 20
    res = results["moons"]
    assert set(res["models"]) == {"imm", "imm restart", "fm", "ddim"} and set(res["models"]["fm"]) == {1, 8}
    # one step of restart is one step of pushforward; from 2 steps on the samplers differ
    assert res["models"]["imm restart"][1] == res["models"]["imm"][1] != res["models"]["imm restart"][8]
    assert set(res["floor"]) == set(bench.METRIC_LABELS)
    assert all(v >= 0 for m in res["models"].values() for q in m.values() for v in q.values())
    # one flow-matching Euler step lands on the posterior mean E[x | x_T] ~ 0: far worse than data vs data
    assert res["models"]["fm"][1]["energy"] > 10 * res["floor"]["energy"]
    text = md.read_text()
    assert "| moons | imm |" in text and "## Targets" in text
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000
    assert json.loads(raw.read_text())["results"]["moons"]["models"]["fm"]["8"] == res["models"]["fm"][8]


def test_held_out_points_are_not_training_points():
    assert {bench.HELD_OUT_SEED, bench.HELD_OUT_SEED + 1}.isdisjoint(r["seed"] for r in RECIPES.values())
    for name in ("moons", "checkerboard"):
        train = toy.sample(name, 200_000, seed=0)  # what train.fit draws with its default seed
        held = bench.held_out(name, 2000)
        assert not set(map(tuple, held.tolist())) & set(map(tuple, train.tolist()))  # no point in common


def fake(imm, fm, ddim):
    q = lambda v: {"energy": v, "sliced_w2": v, "mmd": v}
    return {"floor": q(1e-4), "train_seconds": {"imm": 1.0, "fm": 2.0, "ddim": 3.0},
            "cpu_seconds": {"imm": 1.0, "fm": 2.0, "ddim": 3.0},
            "models": {"imm": {k: q(v) for k, v in imm.items()}, "fm": {k: q(v) for k, v in fm.items()},
                       "ddim": {k: q(v) for k, v in ddim.items()}}}


def test_targets_need_imm_at_least_as_good_as_both_baselines():
    results = {"a": fake({1: 0.01, 2: 0.002}, {8: 0.02, 32: 0.001}, {8: 0.03, 32: 0.003}),
               "b": fake({1: 0.01, 2: 0.002}, {8: 0.005, 32: 0.003}, {8: 0.03, 32: 0.003})}
    rows = {(t, s): ok for t, key, s, *_, ok in bench.targets(results)}
    # a: 1 step 0.01 <= FM 0.02 and DDIM 0.03 -> met; 2 steps 0.002 > FM@32 0.001 -> missed
    assert rows == {("a", 1): True, ("a", 2): False, ("b", 1): False, ("b", 2): True}


def test_monotone_allows_ten_percent_and_no_more():
    results = {"flat": fake({1: 0.01, 2: 0.0109, 4: 0.0119, 8: 0.005}, {}, {}),  # each doubling within 1.1x
               "worse": fake({1: 0.01, 2: 0.0111, 4: 0.005, 8: 0.004}, {}, {}),  # 1 -> 2 steps: 1.11x
               "short": fake({1: 0.01, 2: 0.001}, {}, {})}  # not scored at 4 and 8: no row
    assert {t: ok for t, _, ok in bench.monotone(results)} == {"flat": True, "worse": False}
    text = bench.markdown(results, n=10)
    assert "| worse | 0.01000 | 0.01110 | 0.00500 | 0.00400 | no |" in text and "1/2 toys never get worse" in text


def test_markdown_tables_are_rectangular():
    results = {"a": fake({1: 0.01, 2: 0.002}, {8: 0.02, 32: 0.001}, {8: 0.03, 32: 0.003})}
    text = bench.markdown(results, n=10)
    for table in text.split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert len({row.count("|") for row in rows}) <= 1, table
    assert "| a | imm | 1 (1) | 0.01000 | 0.00200 |" in text
    assert "- energy distance, imm: 1/1 at 1 step(s), 0/1 at 2 step(s)" in text


def test_run_rejects_unknown_or_unshipped_toys():
    with pytest.raises(ValueError, match="unknown toy"):
        bench.run(["no_such_toy"], n=10, progress=False)
    with pytest.raises(ValueError, match="no shipped models for toy 'pinwheel'"):
        bench.run(["pinwheel"], n=10, progress=False)


def test_results_json_round_trip_rerenders_the_same_table(tmp_path):
    results = {"a": fake({1: 0.01, 2: 0.002}, {8: 0.02, 32: 0.001}, {8: 0.03, 32: 0.003})}
    md, _, raw = bench.write(results, tmp_path / "first", n=10)
    assert bench.read(raw) == (results, 10)
    main(["bench", "--from-json", str(raw), "--out-dir", str(tmp_path / "again")])
    assert (tmp_path / "again" / "results.md").read_text() == md.read_text()


def test_merge_replaces_only_the_rescored_methods():
    old = {"a": fake({1: 0.01}, {8: 0.02}, {8: 0.03}), "b": fake({1: 0.5}, {8: 0.5}, {8: 0.5})}
    new = {"a": fake({1: 0.007}, {8: 0.02}, {8: 0.03})}
    for key in ("fm", "ddim"):
        for part in ("models", "train_seconds", "cpu_seconds"):
            del new["a"][part][key]
    merged = bench.merge(old, new)
    assert merged["a"]["models"]["imm"][1]["energy"] == 0.007 and merged["a"]["models"]["fm"][8]["energy"] == 0.02
    assert merged["b"] == old["b"] and old["a"]["models"]["imm"][1]["energy"] == 0.01  # inputs untouched


def test_digits_bench_scores_with_digit_metrics_and_writes_its_own_files(tmp_path):
    results = bench.run(["digits"], ["imm", "fm", "ddim"], nfe=(1, 8, 16), n=100, progress=False)
    res = results["digits"]
    assert set(res["floor"]) == set(digit_metrics.METRICS) == set(res["models"]["imm"][1])
    assert res["models"]["fm"][1]["fd"] > 10 * res["floor"]["fd"]  # one Euler step: the blurry posterior mean
    paths = bench.write(results, tmp_path, n=100)
    assert [p.name for p in paths] == ["digits_results.md", "digits_quality_vs_nfe.png", "digits_results.json"]
    text = paths[0].read_text()
    assert "## Targets (FD-digits)" in text and "Moonshot" in text and "| digits | floor |" in text
    assert not (tmp_path / "results.md").exists()  # the toys' files are left alone
    assert bench.read(paths[2]) == (results, 100)


def test_moonshot_compares_the_best_imm_steps_with_twice_the_floor():
    res = {"floor": {"fd": 5.0}, "models": {"imm": {1: {"fd": 12.0}, 2: {"fd": 9.0}, 4: {"fd": 9.5}},
                                            "imm restart": {1: {"fd": 12.0}, 2: {"fd": 11.0}}}}
    assert bench.moonshot(res) == [("imm", 2, 9.0, 10.0, True), ("imm restart", 2, 11.0, 10.0, False)]
