"""Exercise checkers: compare a student's function with the library's on random inputs and explain the gap.

    check_function(student_fn, reference_fn, cases, name)   the shared machinery every check_... uses
    show_solution(check)                                      prints the reference solution of one exercise

Each lesson's checks live in a submodule (foundations: lessons 0-3, imm: lessons 4-7, digits: lesson 8) and are
re-exported here.
"""
import inspect

import torch


class ExerciseResult:
    """Outcome of a check: truthy when passed; prints as a friendly message in a notebook."""

    def __init__(self, passed, message):
        self.passed, self.message = passed, message

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return self.message



def _fmt(v):
    if isinstance(v, torch.Tensor):
        return f"tensor of shape {tuple(v.shape)}: {v.flatten()[:4].tolist()}{' ...' if v.numel() > 4 else ''}"
    return repr(v)


def check_function(student_fn, reference_fn, cases, name, atol=1e-5, rtol=1e-4, hint=""):
    """Call both functions on each kwargs dict in `cases`; report the first case where they disagree."""
    for i, kwargs in enumerate(cases):
        expected = reference_fn(**kwargs)
        try:
            got = student_fn(**kwargs)
        except NotImplementedError:
            return ExerciseResult(False, f"[not yet] {name}: replace the `raise NotImplementedError` with your code.")
        except Exception as err:  # a student's bug: show it, do not crash the lesson
            return ExerciseResult(False, f"[error] {name} raised {type(err).__name__}: {err}")
        got_t = torch.as_tensor(got, dtype=torch.float64)
        exp_t = torch.as_tensor(expected, dtype=torch.float64)
        if got_t.shape != exp_t.shape:
            return ExerciseResult(False, f"[shape] {name}: expected shape {tuple(exp_t.shape)}, got {tuple(got_t.shape)}"
                                         f" for inputs {', '.join(f'{k}={_fmt(v)}' for k, v in kwargs.items())}")
        if not torch.allclose(got_t, exp_t, atol=atol, rtol=rtol, equal_nan=True):
            where = ", ".join(f"{k}={_fmt(v)}" for k, v in kwargs.items())
            return ExerciseResult(False, f"[wrong] {name}: for {where}\n  expected {_fmt(exp_t)}\n  got      {_fmt(got_t)}"
                                         + (f"\n  hint: {hint}" if hint else ""))
    return ExerciseResult(True, f"[correct] {name}: matches the library on all {len(cases)} test cases.")


def show_solution(check):
    """Print the reference solution attached to a check_... function (its `solution` attribute)."""
    print(inspect.getsource(check.solution))

from .foundations import *  # noqa: E402,F401,F403  lessons 0-3: check_edm_sigma ... check_energy_mmd2
from .imm import *  # noqa: E402,F401,F403  lessons 4-7: check_simple_edm_jump ... check_shortcut_target
from .digits import *  # noqa: E402,F401,F403  lesson 8: check_to_images ... check_kernel_argument
