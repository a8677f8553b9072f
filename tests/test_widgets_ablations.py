"""Lesson 06's ablation panel (imm_edu.widgets.ablations): every group draws, the shipped results file covers
every group and both baselines, and bad input is named."""
import pytest

from imm_edu.widgets import ablations, png, wire


def fake_results():
    curve = lambda keys, v: {str(k): v * k for k in keys}
    res = {}
    for i, group in enumerate(ablations.GROUPS.values()):
        for j in range(2):
            res[f"{group} {j}"] = {"group": group, "pushforward": curve((1, 2, 4, 8, 16), 1 + i + j),
                                  "restart": curve((2, 4, 8), 1 + j)}
    for name in ablations.BASELINES:
        res[name] = {"group": "diagnosis", "pushforward": curve((1, 2, 4, 8, 16), 3), "restart": curve((2, 4, 8), 1)}
    return res


def legend_labels(view):
    return [t.get_text() for t in view.ax_restart.get_legend().get_texts()]


def test_every_group_draws_its_experiments_and_both_baselines():
    view = ablations.AblationView(fake_results(), group="fix")
    before = png(view.fig)
    for label, group in ablations.GROUPS.items():
        view.update(group=group)
        labels = legend_labels(view)
        assert f"{group} 0" in labels and f"{group} 1" in labels
        assert [lab for _, (lab, *_) in ablations.BASELINES.items() if lab in labels] == labels[:2]
        line = view.ax_push.get_lines()[2]  # first non-baseline curve, drawn at the steps it was measured at
        assert list(line.get_xdata()) == [1, 2, 4, 8, 16]
    assert png(view.fig) != before


def test_unknown_group_is_named():
    with pytest.raises(ValueError, match="unknown group 'M'.*ablation-M"):
        ablations.experiments_in(fake_results(), "M")


def test_missing_results_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="diagnose_imm.py --report"):
        ablations.load_ablations(tmp_path / "nope.json")


def test_shipped_results_cover_every_group_and_the_baselines():
    results = ablations.load_ablations()
    assert set(ablations.BASELINES) <= set(results)
    for group in ablations.GROUPS.values():
        assert len(ablations.experiments_in(results, group)) > len(ablations.BASELINES), group
    for r in results.values():
        assert set(r["pushforward"]) == {"1", "2", "4", "8", "16"} and set(r["restart"]) == {"2", "4", "8"}
        assert all(v > 0 for v in [*r["pushforward"].values(), *r["restart"].values()])


def test_panel_dropdown_reaches_every_group():
    import ipywidgets as widgets
    menu = widgets.Dropdown(options=list(ablations.GROUPS.items()), value="ablation-M")
    view = ablations.AblationView(fake_results())
    panel = wire(view, group=menu)
    for group in ablations.GROUPS.values():
        renders = panel.renders
        menu.value = group
        assert view.group == group and (panel.renders > renders or group == "ablation-M")
