"""``agx`` run in-process on the untrained bundled model, and a one-second two-event take made by it:
shared by the command tests (region/timeline, guided edit). Import the fixtures by name."""
from __future__ import annotations

import pytest

from agx_desktop.engine import cli


@pytest.fixture
def agx(untrained_bundled, capsys):
    """``agx(*args) -> (exit status, stdout, stderr)``."""
    def call(*args):
        code = cli.run(["--quiet", *map(str, args)])
        out, err = capsys.readouterr()
        return code, out, err
    return call


@pytest.fixture
def take(agx, tmp_path):
    folder = tmp_path / "dog"
    code, _, err = agx("generate", "a dog barks then a bell rings", "--duration", 1, "--seed", 5, "--out", folder)
    assert code == 0, err
    return folder
