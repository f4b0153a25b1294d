"""CI runs what README promises: `.ci/run` ends with exactly README's test command."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (install_and_test,) = re.findall(r"^ {4}apt-get .*pip install -e \"\.\[test\]\" && (.+)$", readme, re.M)
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    commands = [line for line in ci if line and not line.startswith("#")]
    assert commands[-1] == install_and_test
    assert install_and_test.startswith("python -m pytest")
