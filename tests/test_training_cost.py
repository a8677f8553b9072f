"""imm_edu.training_cost: a reduced training run scored at checkpoints, and the bookkeeping on hand-made curves."""
import time

import pytest

from imm_edu import training_cost as tc
from imm_edu.train_all import RECIPES


def fake_entry(method, values, nfe):
    return {"recipe": RECIPES[method], "load_average": [1.0, 2.5], "curve": [
        {"step": 100 * (i + 1), "cpu_seconds": 10.0 * (i + 1), "energy": {str(k): v * k for k in nfe}}
        for i, v in enumerate(values)]}


def fake_results():
    return {"moons": {"floor": 0.001, "methods": {
        "imm": fake_entry("imm", [0.01, 0.002], (1, 2, 4, 8)),  # best at 1 step: 0.01, 0.002
        "fm": fake_entry("fm", [0.001, 0.0001], (8, 32))}}}  # at 32 NFE: 0.032, 0.0032


def test_curve_scores_the_ema_model_at_the_checkpoints_and_times_only_training():
    recipe = {**RECIPES["shortcut"], "steps": 40, "batch": 128}
    start = time.process_time()
    points = tc.curve("shortcut", "moons", recipe, checkpoints=(10, 20), n=300)
    assert [p["step"] for p in points] == [10, 20, 40]  # the last step is always scored
    assert all(set(p["energy"]) == {"1", "2", "4", "8"} for p in points)
    cpu = [p["cpu_seconds"] for p in points]
    assert 0 < cpu[0] < cpu[1] < cpu[2] < time.process_time() - start
    assert points[0]["energy"] != points[-1]["energy"]  # the EMA model moved between checkpoints


def test_best_takes_the_best_few_step_setting_and_fm_at_32():
    res = fake_results()["moons"]["methods"]
    assert tc.best("imm", res["imm"]) == [(10.0, 0.01, 1), (20.0, 0.002, 1)]
    assert tc.best("fm", res["fm"]) == [(10.0, pytest.approx(0.032), 32), (20.0, pytest.approx(0.0032), 32)]


def test_merge_keeps_methods_not_rerun():
    old = fake_results()
    new = {"moons": {"floor": 0.001, "methods": {"imm": fake_entry("imm", [0.5, 0.4], (1, 2, 4, 8))}},
           "checkerboard": {"floor": 0.002, "methods": {"fm": fake_entry("fm", [0.1], (8, 32))}}}
    merged = tc.merge(old, new)
    assert merged["moons"]["methods"]["fm"] == old["moons"]["methods"]["fm"]
    assert merged["moons"]["methods"]["imm"]["curve"][0]["energy"]["1"] == 0.5
    assert set(merged) == {"moons", "checkerboard"}
    assert old["moons"]["methods"]["imm"]["curve"][0]["energy"]["1"] == 0.01  # the input is untouched


def test_write_and_read_round_trip(tmp_path):
    raw, md, png = tc.write(fake_results(), tmp_path, n=10)
    assert tc.read(raw) == (fake_results(), 10)
    text = md.read_text()
    assert "| moons | 0.00100 | imm | 20 | 0.00200 (1) | 20 (200) | 1.0–2.5 |" in text  # 0.002 <= 2 x floor at step 200
    assert "| moons | 0.00100 | fm | 20 | 0.00320 (32) | not reached | 1.0–2.5 |" in text
    for table in text.split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert len({row.count("|") for row in rows}) <= 1, table
    assert png.read_bytes()[:4] == b"\x89PNG"
