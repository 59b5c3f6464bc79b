"""What hassfest and the HACS action check, checked offline, plus the docs."""

from __future__ import annotations

import ast
import json
from pathlib import Path
import re
import string
from typing import Any

from PIL import Image
import pytest
import yaml

from custom_components.o365.const import REPO_URL

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / "o365"
STRINGS = json.loads((INTEGRATION / "strings.json").read_text())
README = (ROOT / "README.md").read_text()
LANGUAGES = ["en", "de", "nl", "fr"]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """These checks read files only."""


def leaves(data: Any, prefix: str = "") -> dict[str, str]:
    """Return every string of a translation tree by its dotted path."""
    if isinstance(data, str):
        return {prefix: data}
    found: dict[str, str] = {}
    for key, value in data.items():
        found.update(leaves(value, f"{prefix}.{key}" if prefix else key))
    return found


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_manifest() -> None:
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["domain"] == "o365"
    for key in (
        "codeowners",
        "config_flow",
        "documentation",
        "integration_type",
        "iot_class",
        "issue_tracker",
        "requirements",
        "version",
    ):
        assert key in manifest, key
    assert manifest["config_flow"] is True
    assert manifest["iot_class"] == "cloud_push"
    assert manifest["integration_type"] == "service"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert manifest["documentation"].startswith(REPO_URL)
    assert manifest["requirements"] == ["msal==1.39.0"]
    runtime = (ROOT / "requirements.txt").read_text()
    assert all(requirement in runtime for requirement in manifest["requirements"])


def test_hacs_json() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    allowed = {
        "name",
        "content_in_root",
        "zip_release",
        "filename",
        "hide_default_branch",
        "country",
        "homeassistant",
        "hacs",
        "persistent_directory",
        "render_readme",
    }
    assert set(hacs) <= allowed
    assert hacs["name"]
    assert hacs["homeassistant"] == "2025.4.0"
    for required in ("README.md", "info.md", "LICENSE"):
        assert (ROOT / required).is_file()


def test_brand_icon() -> None:
    with Image.open(INTEGRATION / "brand" / "icon.png") as icon:
        assert icon.format == "PNG"
        assert icon.size == (256, 256)
    with Image.open(INTEGRATION / "brand" / "icon@2x.png") as icon:
        assert icon.size == (512, 512)


@pytest.mark.parametrize("language", LANGUAGES)
def test_translation_is_complete(language: str) -> None:
    """Every key of strings.json, with the same placeholders, in each language."""
    translation = json.loads(
        (INTEGRATION / "translations" / f"{language}.json").read_text()
    )
    source = leaves(STRINGS)
    translated = leaves(translation)
    assert set(translated) == set(source)
    for key, text in source.items():
        assert placeholders(translated[key]) == placeholders(text), key
        assert translated[key].strip(), key
        # Braces are placeholders: only real identifiers may be in them.
        assert all(name.isidentifier() for name in placeholders(text)), key
    if language == "en":
        assert translation == STRINGS


def test_services_yaml_matches_translations_and_icons() -> None:
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    icons = json.loads((INTEGRATION / "icons.json").read_text())
    assert set(services) == set(STRINGS["services"]) == set(icons["services"])
    for name, service in services.items():
        assert set(service["fields"]) == set(STRINGS["services"][name]["fields"])
        for field in service["fields"].values():
            selector = field.get("selector", {})
            if "select" in selector and "translation_key" in selector["select"]:
                key = selector["select"]["translation_key"]
                assert set(STRINGS["selector"][key]["options"]) == set(
                    selector["select"]["options"]
                )
    for platform, entities in icons["entity"].items():
        assert set(entities) <= set(STRINGS["entity"][platform])


def _keys_used_in_code() -> set[str]:
    """Translation keys the code raises or shows (string literals)."""
    keys: set[str] = set()
    for path in INTEGRATION.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.keyword)
                and node.arg in ("translation_key", "reason")
                and isinstance(node.value, ast.Constant)
            ):
                keys.add(str(node.value.value))
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_validation_error"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                keys.add(str(node.args[0].value))
    return keys


def test_every_key_in_the_code_is_translated() -> None:
    from custom_components.o365.errors import _ERROR_KEYS

    translated = (
        set(STRINGS["exceptions"])
        | set(STRINGS["config"]["error"])
        | set(STRINGS["config"]["abort"])
        | set(STRINGS["issues"])
        | set(STRINGS["entity"]["sensor"])
        | set(STRINGS["entity"]["notify"])
        | set(STRINGS["selector"])
    )
    used = _keys_used_in_code() | {key for _, key in _ERROR_KEYS}
    used |= {"cannot_connect", "graph_error", "unknown"}
    missing = used - translated - {"reauth_successful", "reconfigure_successful"}
    assert not missing
    for _, key in _ERROR_KEYS:
        assert key in STRINGS["exceptions"], key


def test_readme_documents_every_error_key() -> None:
    """Every error key has a troubleshooting entry; the messages link to it."""
    anchors = set(re.findall(r'<a id="([a-z_]+)"></a>', README))
    errors = set(STRINGS["config"]["error"]) | set(STRINGS["exceptions"])
    errors |= set(STRINGS["issues"]) - {"secret_invalid", "missing_consent"}
    errors |= {"account_mismatch"}
    assert errors - anchors == set()
    for text in leaves(STRINGS).values():
        for anchor in re.findall(re.escape(REPO_URL) + r"#([a-z_]+)", text):
            assert anchor in anchors, anchor
    for key, message in leaves(STRINGS["config"]["error"]).items():
        assert f"{REPO_URL}#{key}" in message, key
    for key, value in STRINGS["exceptions"].items():
        assert f"{REPO_URL}#{key}" in value["message"], key


def test_readme_names_the_two_commands() -> None:
    assert "scripts/develop" in README
    assert "scripts/test" in README
    assert "bash scripts/setup\nbash scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_quality_scale_self_audit() -> None:
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text())["rules"]
    expected = {
        # Bronze
        "action-setup", "appropriate-polling", "brands", "common-modules",
        "config-flow", "config-flow-test-coverage", "dependency-transparency",
        "docs-actions", "docs-high-level-description",
        "docs-installation-instructions", "docs-removal-instructions",
        "entity-event-setup", "entity-unique-id", "has-entity-name", "runtime-data",
        "test-before-configure", "test-before-setup", "unique-config-entry",
        # Silver
        "action-exceptions", "config-entry-unloading",
        "docs-configuration-parameters", "docs-installation-parameters",
        "entity-unavailable", "integration-owner", "log-when-unavailable",
        "parallel-updates", "reauthentication-flow", "test-coverage",
        # Gold
        "devices", "diagnostics", "discovery", "discovery-update-info",
        "docs-data-update", "docs-examples", "docs-known-limitations",
        "docs-supported-devices", "docs-supported-functions", "docs-troubleshooting",
        "docs-use-cases", "dynamic-devices", "entity-category",
        "entity-device-class", "entity-disabled-by-default", "entity-translations",
        "exception-translations", "icon-translations", "reconfiguration-flow",
        "repair-issues", "stale-devices",
        # Platinum
        "async-dependency", "inject-websession", "strict-typing",
    }  # fmt: skip
    assert expected <= set(rules)
    for name, rule in rules.items():
        status = rule if isinstance(rule, str) else rule["status"]
        assert status in ("done", "exempt"), name
        if status == "exempt":
            assert rule["comment"], name


def test_graph_package_has_no_home_assistant_import() -> None:
    for path in (INTEGRATION / "graph").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith("homeassistant"), (path, name)


def test_vendored_schema_matches_shared_copy() -> None:
    shared = ROOT.parent / "shared" / "graph" / "graph_schemas.json"
    if not shared.exists():
        pytest.skip("the shared folder is not next to this checkout")
    vendored = ROOT / "emulator" / "graph_schemas.json"
    assert json.loads(vendored.read_text()) == json.loads(shared.read_text())
