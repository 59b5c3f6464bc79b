"""List the requirements Home Assistant's smtp integration needs, without importing it.

``python -m bench.smtp_requirements`` with a Home Assistant venv's Python
prints a JSON list: the ``requirements`` of the manifests of ``smtp``, of the
integrations its modules import (``camera``, ``image``, ``tts`` in 2026.x, for
media sources) and, recursively, of their manifests' ``dependencies``. Home
Assistant would install these when smtp is first set up; the benchmark runs
with ``skip_pip``, so ``bench.run`` installs the missing ones beside the venv.
Standard library only.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
import re
import sys

_SUBMODULE = re.compile(r"homeassistant\.components\.(\w+)")
_IMPORTS = re.compile(
    r"^from homeassistant\.components import (?:\(([^)]*)\)|([\w ,]+)$)", re.M
)


def imported(folder: Path) -> set[str]:
    """Return the integrations the modules in ``folder`` import."""
    names: set[str] = set()
    for module in folder.glob("*.py"):
        text = module.read_text(encoding="utf-8")
        names |= set(_SUBMODULE.findall(text))
        for group in _IMPORTS.findall(text):
            for name in "".join(group).split(","):
                name = name.split(" as ")[0].strip()  # noqa: PLW2901
                if name:
                    names.add(name)
    return names


def requirements(integration: str = "smtp") -> list[str]:
    """Return the sorted requirements of ``integration`` and what it needs."""
    spec = importlib.util.find_spec("homeassistant")
    if spec is None or spec.origin is None:
        raise SystemExit("no homeassistant in this Python")
    components = Path(spec.origin).parent / "components"
    todo = {integration} | imported(components / integration)
    seen: set[str] = set()
    found: set[str] = set()
    while todo:
        name = todo.pop()
        seen.add(name)
        manifest = components / name / "manifest.json"
        if not manifest.is_file():
            continue
        data = json.loads(manifest.read_text(encoding="utf-8"))
        found |= set(data.get("requirements", []))
        todo |= set(data.get("dependencies", [])) - seen
    return sorted(found)


if __name__ == "__main__":
    sys.stdout.write(json.dumps(requirements()) + "\n")
