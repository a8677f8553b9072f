"""Bad input gets a clear error that says what was wrong and what is allowed."""
import pytest
import torch

from imm_edu import build, fit, imm_loss, mapping_r
from imm_edu.kernels import mmd2


def test_times_must_be_ordered_and_inside_the_unit_interval():
    with pytest.raises(ValueError, match="s <= t"):
        mapping_r(torch.tensor(0.6), torch.tensor(0.5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mapping_r(torch.tensor(0.1), torch.tensor(1.5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        build("imm").f(torch.zeros(3, 2), -0.1, 0.5)
    with pytest.raises(ValueError, match="s <= t"):
        build("imm").f(torch.zeros(3, 2), 0.7, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        mapping_r(torch.tensor(float("nan")), torch.tensor(0.5))
    with pytest.raises(ValueError, match="s <= t"):
        build("ddim").sampler(torch.zeros(3, 2), [0.2, 0.5]).__next__()


def test_imm_loss_shapes_and_values():
    y, s, t = torch.zeros(2, 4, 2), torch.tensor([0.1, 0.2]), torch.tensor([0.5, 0.6])
    with pytest.raises(ValueError, match=r"\(groups, M, D\)"):
        imm_loss(torch.zeros(8, 2), torch.zeros(8, 2), s, t)
    with pytest.raises(ValueError, match=r"\(groups, M, D\)"):
        imm_loss(y, torch.zeros(2, 3, 2), s, t)
    with pytest.raises(ValueError, match=r"\(groups,\)"):
        imm_loss(y, y, torch.tensor([0.1]), t)
    with pytest.raises(ValueError, match="NaN"):
        imm_loss(torch.full((2, 4, 2), float("inf")), y, s, t)
    with pytest.raises(ValueError, match="s <= t"):
        imm_loss(y, y, t, s)
    with pytest.raises(ValueError, match="laplace"):
        imm_loss(y, y, s, t, kernel="gaussian")
    with pytest.raises(ValueError, match="simple_edm"):
        imm_loss(y, y, s, t, param="edm")


def test_group_size_must_divide_the_batch():
    model = build("imm", M=4)
    with pytest.raises(ValueError, match="not divisible by the group size M = 4"):
        model.loss(torch.zeros(10, 2), torch.Generator())


def test_points_shape_and_finiteness():
    model = build("imm")
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        model.f(torch.zeros(3, 3), 0.1, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        model.f(torch.full((3, 2), float("nan")), 0.1, 0.5)
    assert model.f([[0.0, 0.0]], 0.1, 0.5).shape == (1, 2)  # array-likes (lists, numpy) are converted
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        model.f([0.0, 0.0], 0.1, 0.5)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        fit(build("fm"), torch.zeros(10, 3), steps=1, progress=False)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="imm"):
        build("diffusion")
    with pytest.raises(ValueError, match="valid fields"):
        build("imm", group_size=4)
    for field, value, allowed in [("kernel", "gauss", "laplace"), ("param", "edm", "simple_edm"),
                                  ("mapping", "lambda", "eta_decrement"), ("sampler", "ode", "pushforward"),
                                  ("schedule", "vp", "cosine")]:
        with pytest.raises(ValueError, match=allowed):
            build("imm", **{field: value})
    with pytest.raises(ValueError, match="euler"):
        build("fm", solver="rk4")
    with pytest.raises(ValueError, match="uniform"):
        build("fm").sample(5, 2, grid="edm")
    with pytest.raises(ValueError, match="restart"):
        build("imm").sample(5, 2, sampler="ode")
    with pytest.raises(ValueError, match="laplace"):
        mmd2(torch.zeros(2, 2), torch.zeros(2, 2), "gauss")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_counts_must_be_positive_integers(bad):
    with pytest.raises(ValueError, match="positive integer"):
        build("imm").sample(bad, 2)
    with pytest.raises(ValueError, match="positive integer"):
        build("imm").sample(4, bad)


def test_sizes_a_laptop_cannot_hold_are_refused_at_once():
    from imm_edu import toy
    for call in (lambda: build("imm").sample(10**9, 2), lambda: toy.sample("moons", 10**9),
                 lambda: toy.from_points(torch.randn(10, 2), 10**9)):
        with pytest.raises(ValueError, match=r"n = 1,000,000,000 points is too many .* at most 10,000,000 points "
                                             r"of dimension 2"):
            call()
    with pytest.raises(ValueError, match=r"at most 312,500 points of dimension 64"):
        build("fm", dim=64).sample(312_501, 1)
    with pytest.raises(ValueError, match=r"steps = 1,000,000 is too many: at most 10,000"):
        build("fm").sample(5, 10**6)


@pytest.mark.parametrize("method, kw", [("imm", {}), ("imm", {"sampler": "restart"}), ("ddim", {}),
                                        ("fm", {"solver": "heun"})])
def test_the_net_sees_at_most_a_chunk_and_the_samples_do_not_change(method, kw, monkeypatch):
    import imm_edu.model
    model = build(method, width=16, depth=1)
    whole = model.sample(100, 3, seed=5, **kw)  # 100 <= NET_CHUNK: one network call per step, as always
    rows, forward = [], model.net.forward
    monkeypatch.setattr(model.net, "forward", lambda x, *times: rows.append(len(x)) or forward(x, *times))
    monkeypatch.setattr(imm_edu.model, "NET_CHUNK", 16)
    chunked = model.sample(100, 3, seed=5, **kw)
    evaluations = len(rows) // 7
    assert evaluations >= 3 and rows == ([16] * 6 + [4]) * evaluations  # each evaluation: 6 calls of 16 rows + 4
    torch.testing.assert_close(chunked, whole)  # same points (up to round-off from the smaller matmuls)


def test_per_point_times_are_split_with_the_points(monkeypatch):
    import imm_edu.model
    model, x = build("imm", width=16, depth=1), torch.randn(50, 2, dtype=torch.float64)
    s, t = torch.linspace(0, 0.4, 50), torch.linspace(0.5, 0.9, 50)
    whole = model.f(x, s, t), model.f(x, 0.2, t)
    monkeypatch.setattr(imm_edu.model, "NET_CHUNK", 16)
    torch.testing.assert_close(model.f(x, s, t), whole[0])  # both times per point
    torch.testing.assert_close(model.f(x.numpy(), 0.2, t), whole[1])  # one shared, one per point; numpy float64


@pytest.mark.parametrize("kw, message", [
    ({"data": "chekerboard"}, "valid names: checkerboard"), ({"steps": 0}, "steps must be a positive integer, got 0"),
    ({"steps": 2.5}, "steps must be a positive integer"), ({"batch": 0}, "batch must be a positive integer"),
    ({"lr": -1e-3}, "lr must be a positive number"), ({"lr": float("nan")}, "lr must be a positive number"),
    ({"ema": 1.0}, r"ema must be a decay in \[0, 1\)"), ({"data": torch.zeros(10, 3)}, r"\(N, 2\)"),
])
def test_fit_validates_before_drawing_a_progress_bar(kw, message, capsys):
    with pytest.raises(ValueError, match=message):
        fit(build("fm", width=16, depth=1), **{"data": "moons", "steps": 5, **kw})
    assert capsys.readouterr().err == ""  # tqdm draws on stderr: nothing was drawn
