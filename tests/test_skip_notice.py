"""A skipped browser test says why in the plain `python -m pytest` output (no -rs needed)."""
from pathlib import Path

pytest_plugins = ["pytester"]


def test_browser_skip_reason_is_printed_without_dash_rs(pytester):
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    # not named test_browser: in a full run that module name is already imported (tests/e2e/test_browser.py)
    pytester.makepyfile(test_browser_double="""
        import pytest

        def test_in_a_browser():
            pytest.skip("e2e browser test skipped: Chromium is not installed (a test double)")

        def test_other():
            pytest.skip("an unrelated skip")
    """)
    out = pytester.runpytest("-p", "no:cacheprovider").stdout.str()
    assert "e2e browser test skipped: Chromium is not installed (a test double)" in out
    assert "an unrelated skip" not in out  # only the browser test's reason is promoted
