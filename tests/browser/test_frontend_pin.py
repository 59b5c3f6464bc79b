"""The UI that scripts/develop and the browser test install is the one Home Assistant wants."""

from __future__ import annotations

import json
from pathlib import Path
import re

import homeassistant.components.frontend

ROOT = Path(__file__).resolve().parents[2]


def test_frontend_pin_matches_home_assistant() -> None:
    """requirements_test.txt pins the frontend of the installed Home Assistant.

    Home Assistant runs with --skip-pip in scripts/develop and the browser
    test, so a mismatch would not be repaired at start.
    """
    manifest = Path(homeassistant.components.frontend.__file__).with_name(
        "manifest.json"
    )
    (wanted,) = json.loads(manifest.read_text(encoding="utf-8"))["requirements"]
    requirements = (ROOT / "requirements_test.txt").read_text(encoding="utf-8")
    pins = re.findall(r"^home-assistant-frontend==\S+$", requirements, re.MULTILINE)
    assert pins == [wanted]
