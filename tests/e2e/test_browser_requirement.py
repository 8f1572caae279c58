"""The browser fixture's rule: skip without Chromium locally, fail without it in CI."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.browser import CHROMIUM, require_chromium


def test_missing_chromium_skips_with_an_install_hint_outside_ci(tmp_path: Path) -> None:
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        require_chromium(tmp_path / "no-chromium", {})


def test_missing_chromium_fails_in_ci(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="missing in CI"):
        require_chromium(tmp_path / "no-chromium", {"CI": "true"})


def test_present_chromium_neither_skips_nor_fails(tmp_path: Path) -> None:
    binary = tmp_path / "chromium"
    binary.touch()
    require_chromium(binary, {"CI": "true"})
    assert CHROMIUM.name == "chromium"
