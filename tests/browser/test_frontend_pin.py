"""The UI that scripts/develop and the browser test install is the one Home Assistant wants.

There are two test lanes, each with its own requirements file: ``.venv``
(requirements_test.txt) and ``.venv-newest`` (requirements_test_newest.txt).
The checks read the file of the lane that runs: the one whose
pytest-homeassistant-custom-component pin is the installed one.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
import re

import homeassistant.components
import homeassistant.components.frontend
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LANES = ("requirements_test.txt", "requirements_test_newest.txt")
PHACC = "pytest-homeassistant-custom-component"


def pins(path: Path) -> dict[str, str]:
    """Return the ``name==version`` pins of a requirements file by normalised name."""
    found: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        found[canonicalize_name(requirement.name)] = specifier.version
    return found


def lane_requirements() -> Path:
    """Return the requirements file of the lane this environment was made from."""
    installed = importlib.metadata.version(PHACC)
    matching = [name for name in LANES if pins(ROOT / name).get(PHACC) == installed]
    assert len(matching) == 1, f"no requirements file pins {PHACC}=={installed}"
    return ROOT / matching[0]


def test_lane_is_the_installed_home_assistant() -> None:
    """The lane's phacc is the installed one, and it brings the installed HA."""
    installed = importlib.metadata.version("homeassistant")
    requires = importlib.metadata.requires(PHACC) or []
    assert f"homeassistant=={installed}" in requires
    assert lane_requirements().name in LANES


def test_frontend_pin_matches_home_assistant() -> None:
    """The lane's requirements pin the frontend of the installed Home Assistant.

    Home Assistant runs with --skip-pip in scripts/develop and the browser
    test, so a mismatch would not be repaired at start.
    """
    manifest = Path(homeassistant.components.frontend.__file__).with_name(
        "manifest.json"
    )
    (wanted,) = json.loads(manifest.read_text(encoding="utf-8"))["requirements"]
    requirements = lane_requirements().read_text(encoding="utf-8")
    found = re.findall(r"^home-assistant-frontend==\S+$", requirements, re.MULTILINE)
    assert found == [wanted]
    assert (
        importlib.metadata.version("home-assistant-frontend") == (wanted.split("==")[1])
    )


def test_integration_requirements_match_home_assistant() -> None:
    """A package pinned for an integration of Home Assistant has that integration's version.

    (hassil for conversation, mutagen for tts, PyTurboJPEG for camera, ...:
    since 2025.5 they are pinned only in the integrations' manifests.)
    """
    components = Path(homeassistant.components.__path__[0])
    wanted: dict[str, set[str]] = {}
    for manifest in components.glob("*/manifest.json"):
        for line in json.loads(manifest.read_text(encoding="utf-8")).get(
            "requirements", []
        ):
            requirement = Requirement(line)
            for specifier in requirement.specifier:
                if specifier.operator == "==":
                    name = canonicalize_name(requirement.name)
                    wanted.setdefault(name, set()).add(specifier.version)
    ours = pins(lane_requirements())
    mismatched = {
        name: (version, sorted(wanted[name]))
        for name, version in ours.items()
        if name in wanted and version not in wanted[name]
    }
    assert not mismatched


def test_lanes_share_the_tool_pins() -> None:
    """Both lanes pin the same test tools; they differ in Home Assistant only.

    What only one lane pins is what its Home Assistant needs: phacc, the
    frontend, and (newest lane) the requirements of Home Assistant's own
    integrations that homeassistant 2025.4 still required itself.
    """
    default, newest = (pins(ROOT / name) for name in LANES)
    differ = {PHACC, "home-assistant-frontend"}
    shared = set(default) - differ
    assert {name: newest.get(name) for name in shared} == {
        name: default[name] for name in shared
    }
