"""What every exercise check of every lesson must do: accept its own solution, and answer a stub with the
friendly "[not yet]" instead of raising."""
import pytest

from imm_edu import exercises
from imm_edu.exercises import digits, foundations, imm

NAMES = foundations.__all__ + imm.__all__ + digits.__all__


def stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("name", NAMES)
def test_solution_passes(name):
    check = getattr(exercises, name)
    result = check(check.solution)
    assert result, result.message
    assert result.message.startswith("[correct]")


@pytest.mark.parametrize("name", NAMES)
def test_stub_is_not_yet_and_does_not_raise(name):
    result = getattr(exercises, name)(stub)
    assert not result and result.message.startswith("[not yet]")
