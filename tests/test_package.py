"""What hassfest and the HACS action check, checked offline, plus the docs."""

from __future__ import annotations

import ast
from collections.abc import Callable
import json
from pathlib import Path
import re
import string
from typing import Any

import hass_frontend
import homeassistant
from homeassistant.helpers import config_validation as cv
from PIL import Image
import pytest
import voluptuous as vol
import yaml

from custom_components.o365.const import REPO_URL
from emulator.directory import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_DOMAINS,
    DEFAULT_PUBLIC_CLIENT_ID,
    DEFAULT_WORK_USER,
    SHARED_MAILBOX,
    Directory,
)

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
    assert manifest["requirements"] == ["msal==1.39.0", "pybase64==1.5.1"]
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
    assert hacs["render_readme"] is True
    for required in ("README.md", "LICENSE"):
        assert (ROOT / required).is_file()
    # HACS shows the README: no info.md to drift from it.
    assert not (ROOT / "info.md").exists()


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
        | {
            reason
            for issue in STRINGS["issues"].values()
            for reason in issue.get("fix_flow", {}).get("abort", {})
        }
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
    errors = set(STRINGS["config"]["error"])
    errors |= {
        key for key in STRINGS["exceptions"] if not key.startswith("test_email_")
    }
    errors |= set(STRINGS["issues"]) - {"secret_invalid", "missing_consent"}
    errors |= {"account_mismatch"}
    assert errors - anchors == set()
    for text in leaves(STRINGS).values():
        for anchor in re.findall(r"\{docs_url\}#([a-z_]+)", text):
            assert anchor in anchors, anchor
    for key, message in leaves(STRINGS["config"]["error"]).items():
        assert message.endswith(f"Help: {{docs_url}}#{key}"), key
    for key, value in STRINGS["exceptions"].items():
        if key.startswith("test_email_"):
            continue  # the test button's notification texts, not errors
        assert value["message"].endswith(f"Help: {{docs_url}}#{key}"), key


def _readme_table(heading: str) -> dict[str, str]:
    """Return each row's first code value (or text) in the table after ``heading``."""
    rest = README[README.index(heading) :]
    table = rest[rest.index("\n|") : rest.index("\n\n", rest.index("\n|"))]
    rows = {}
    for line in table.strip().splitlines()[2:]:
        field, value = line.split(" | ", 2)[:2]
        code = value.split("`")
        rows[field.strip("| ")] = code[1] if len(code) > 1 else value
    return rows


def test_readme_gives_what_the_emulator_accepts() -> None:
    """A new user can add both kinds of account with the README's values."""
    app = _readme_table("**Enter the app registration details** (the app-only way)")
    assert app == {
        "Sender mailbox": "ops@contoso.com",
        "Directory (tenant) ID": DEFAULT_DOMAINS[0],
        "Application (client) ID": DEFAULT_CLIENT_ID,
        "Client secret value": DEFAULT_CLIENT_SECRET,
    }
    directory = Directory.default()
    # Not the mailbox scripts/develop already set up ("already configured").
    assert directory.find_mailbox(app["Sender mailbox"]) is not None
    devenv = (ROOT / "scripts" / "develop_assets" / "devenv.py").read_text()
    develop_mailbox = re.search(r'^MAILBOX = "([^"]+)"', devenv, re.M)
    assert develop_mailbox
    assert app["Sender mailbox"] != develop_mailbox.group(1)
    sign_in = _readme_table("**Sign in with a Microsoft account** (the way")
    assert sign_in["Application (client) ID"] == DEFAULT_PUBLIC_CLIENT_ID
    assert sign_in["Tenant"] == "consumers"
    for account in ("casey@outlook.com", "jamie@hotmail.com", DEFAULT_WORK_USER):
        assert f"**{account}**" in README
        assert directory.find_mailbox(account) is not None
    assert sign_in["Send from another mailbox (option, work accounts)"] == (
        SHARED_MAILBOX
    )


def test_readme_names_the_two_commands() -> None:
    assert "scripts/develop" in README
    assert "scripts/test" in README
    # Both lanes: Home Assistant 2025.4 (.venv) and the newest (.venv-newest).
    assert "scripts/setup --newest" in README
    assert "scripts/test --newest" in README
    ci = (ROOT / ".ci" / "run").read_text()
    steps = [
        "bash scripts/setup\n",
        "bash scripts/test ",
        "bash scripts/setup --newest\n",
        "bash scripts/test --newest ",
    ]
    where = [ci.find(step) for step in steps]
    assert -1 not in where, where
    assert where == sorted(where)


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


# -- Home Assistant's own validators, offline ---------------------------------
#
# hassfest (script/hassfest/translations.py in home-assistant/core, which the
# hassfest action runs on custom integrations) validates strings.json and
# translations/en.json with a voluptuous schema. The same rules, written here
# against the installed Home Assistant's config_validation, for every language:
# - no HTML (cv.string_with_no_html: anything like "<a" ... ">" is HTML);
# - placeholders are identifiers, never inside single quotes, and none in
#   entity states, state attributes and units;
# - a [%key:...%] reference is the whole string, and resolves to a string that
#   is not itself a reference;
# - no leading or trailing spaces;
# - keys: translation keys are lower-case letters, digits, "-" and "_" (not at
#   either end, never two in a row); exception keys and entity platforms are
#   slugs; no section or key outside those Home Assistant knows;
# - config/options flows: every step's data_description key is one of its data
#   keys; issues have a title and a description or a fix flow (not both);
#   services and their fields have a name and a description.
# - no URLs ("use description placeholders instead"): the help links are
#   "{docs_url}#key", filled in by the code (test_translations_have_no_urls).

TRANSLATION_FILES = [
    INTEGRATION / "strings.json",
    *sorted((INTEGRATION / "translations").glob("*.json")),
]
TRANSLATION_KEY = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
REFERENCE = re.compile(r"\[%key:([^%]+)%\]")
QUOTED_PLACEHOLDER = re.compile(r"'\{\w+\}'")
#: What hassfest counts as a URL: a scheme it knows and a host, or www.
URL = re.compile(
    r"(?:(?:ftps?|scp|https?|mqtts?|socket|socks5)://|www\.)"
    r"[a-z0-9]+(?:[-.][a-z0-9]+)*\.[a-z]{2,5}(?::\d{1,5})?(?:/\S*)?",
    re.IGNORECASE,
)


def translation_key(value: Any) -> str:
    """Validate a translation key (lower case, digits, single - or _ inside)."""
    if not isinstance(value, str) or not TRANSLATION_KEY.fullmatch(value):
        raise vol.Invalid(f"invalid translation key {value!r}")
    return value


def text(*, placeholders_allowed: bool = True) -> Callable[[Any], str]:
    """Return a validator for one translated string."""

    def validate(value: Any) -> str:
        value = cv.string_with_no_html(value)
        if QUOTED_PLACEHOLDER.search(value):
            raise vol.Invalid("placeholder inside single quotes")
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name]
        except ValueError as err:
            raise vol.Invalid(f"unbalanced braces: {err}") from err
        if names and not placeholders_allowed:
            raise vol.Invalid("placeholders are not allowed here")
        if not all(name.isidentifier() for name in names):
            raise vol.Invalid("a placeholder is not an identifier")
        if "[%key:" in value and not REFERENCE.fullmatch(value):
            raise vol.Invalid("a reference must be the whole string")
        if value != value.strip():
            raise vol.Invalid("leading or trailing whitespace")
        return value

    return validate


TEXT = text()
PLAIN = text(placeholders_allowed=False)


def keyed(value_schema: Any, key: Any = translation_key) -> Callable[[Any], Any]:
    """Return a validator for a mapping whose keys must pass ``key``."""
    return cv.schema_with_slug_keys(value_schema, slug_validator=key)


def _data_descriptions_have_data(flow: dict[str, Any]) -> dict[str, Any]:
    for step_id, step in flow["step"].items():
        extra = set(step.get("data_description", {})) - set(step.get("data", {}))
        if extra:
            raise vol.Invalid(f"step {step_id}: data_description without data: {extra}")
    return flow


FLOW = vol.All(
    {
        vol.Optional("flow_title"): TEXT,
        vol.Required("step"): {
            str: {
                vol.Optional("title"): TEXT,
                vol.Optional("description"): TEXT,
                vol.Optional("data"): {str: TEXT},
                vol.Optional("data_description"): {str: TEXT},
                vol.Optional("menu_options"): {str: TEXT},
                vol.Optional("menu_option_descriptions"): {str: TEXT},
                vol.Optional("submit"): TEXT,
                vol.Optional("sections"): {
                    str: {
                        vol.Optional("name"): TEXT,
                        vol.Optional("description"): TEXT,
                        vol.Optional("data"): {str: TEXT},
                        vol.Optional("data_description"): {str: TEXT},
                    }
                },
            }
        },
        vol.Optional("error"): {str: TEXT},
        vol.Optional("abort"): {str: TEXT},
        vol.Optional("progress"): {str: TEXT},
        vol.Optional("create_entry"): {str: TEXT},
        vol.Optional("initiate_flow"): {vol.Required("user"): TEXT},
    },
    _data_descriptions_have_data,
)

ISSUE = vol.All(
    cv.has_at_least_one_key("description", "fix_flow"),
    vol.Schema(
        {
            vol.Required("title"): TEXT,
            vol.Exclusive("description", "fixable"): TEXT,
            vol.Exclusive("fix_flow", "fixable"): FLOW,
        }
    ),
)

FIELDS = keyed(
    {
        vol.Required("name"): str,
        vol.Required("description"): TEXT,
        vol.Optional("example"): TEXT,
    }
)

STATES = keyed(PLAIN)

STRINGS_SCHEMA = vol.Schema(
    {
        vol.Optional("title"): TEXT,
        vol.Optional("config"): FLOW,
        vol.Optional("options"): FLOW,
        vol.Optional("issues"): {str: ISSUE},
        vol.Optional("exceptions"): keyed({vol.Optional("message"): TEXT}, key=cv.slug),
        vol.Optional("selector"): keyed(
            {
                vol.Optional("options"): keyed(TEXT),
                vol.Optional("choices"): keyed(TEXT),
                vol.Optional("unit_of_measurement"): keyed(TEXT),
                vol.Optional("fields"): FIELDS,
            },
            key=vol.Any("_", cv.slug),
        ),
        vol.Optional("device"): keyed({vol.Optional("name"): TEXT}),
        vol.Optional("entity"): keyed(
            keyed(
                {
                    vol.Optional("name"): TEXT,
                    vol.Optional("state"): STATES,
                    vol.Optional("state_attributes"): keyed(
                        {
                            vol.Optional("name"): PLAIN,
                            vol.Optional("state"): STATES,
                        }
                    ),
                    vol.Optional("unit_of_measurement"): PLAIN,
                }
            ),
            key=cv.slug,
        ),
        vol.Optional("services"): keyed(
            {
                vol.Required("name"): TEXT,
                vol.Required("description"): TEXT,
                vol.Optional("fields"): FIELDS,
                vol.Optional("sections"): keyed(
                    {vol.Required("name"): str, vol.Optional("description"): TEXT}
                ),
            }
        ),
    }
)


def translation_errors(data: Any) -> list[str]:
    """Return what Home Assistant's translation rules refuse in a strings tree."""
    try:
        STRINGS_SCHEMA(data)
    except vol.MultipleInvalid as err:
        found = []
        for error in err.errors:
            where = ".".join(map(str, error.path))
            value = _lookup(data, [str(part) for part in error.path])
            got = f": {value!r}" if isinstance(value, str) else ""
            found.append(f"{where}: {error.error_message}{got}")
        return sorted(found)
    return reference_errors(data)


def _lookup(tree: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def reference_errors(data: Any) -> list[str]:
    """Check [%key:...%] references: they resolve, to a string that is no reference.

    ``component::o365::...`` resolves in our own strings, ``common::...`` in
    Home Assistant's, ``component::<domain>::...`` in that integration's.
    """
    core = Path(homeassistant.__file__).parent
    errors = []
    for where, value in leaves(data).items():
        match = REFERENCE.fullmatch(value)
        if match is None:
            continue
        parts = match.group(1).split("::")
        if parts[:2] == ["component", "o365"]:
            target = _lookup(data, parts[2:])
        elif parts[0] == "common":
            common = json.loads((core / "strings.json").read_text(encoding="utf-8"))
            target = _lookup(common, parts)
        elif parts[0] == "component" and len(parts) > 2:
            strings = core / "components" / parts[1] / "strings.json"
            target = (
                _lookup(json.loads(strings.read_text(encoding="utf-8")), parts[2:])
                if strings.is_file()
                else None
            )
        else:
            target = None
        if not isinstance(target, str):
            errors.append(f"{where}: {value} does not resolve")
        elif REFERENCE.fullmatch(target):
            errors.append(f"{where}: {value} points to another reference")
    return errors


@pytest.mark.parametrize("path", TRANSLATION_FILES, ids=lambda path: path.name)
def test_translations_pass_home_assistant_rules(path: Path) -> None:
    """strings.json and each translation pass hassfest's translation rules."""
    errors = translation_errors(json.loads(path.read_text(encoding="utf-8")))
    assert not errors, "\n".join(errors)


def test_translation_rules_refuse_what_hassfest_refuses() -> None:
    """The schema is not vacuous: each rule refuses its example."""
    good = {"services": {"send": {"name": "Send", "description": "Sends {what}."}}}
    assert translation_errors(good) == []
    bad = [
        {"services": {"send": {"name": "Send", "description": "To Name <a@b.c>."}}},
        {"services": {"send": {"name": "Send", "description": "<b>Sends</b>"}}},
        {"services": {"send": {"name": "Send", "description": "Sends '{what}'."}}},
        {"services": {"send": {"name": "Send", "description": "Sends {what!}."}}},
        {"services": {"send": {"name": "Send", "description": "Sends { what."}}},
        {"services": {"send": {"name": "Send", "description": " Sends."}}},
        {"services": {"send": {"name": "Send"}}},
        {"services": {"Send": {"name": "Send", "description": "Sends."}}},
        {"services": {"send_": {"name": "Send", "description": "Sends."}}},
        {"entity": {"sensor": {"outbox": {"state": {"on": "{count} on"}}}}},
        {"entity": {"sensor": {"outbox": {"icon": "mdi:tray"}}}},
        {"config": {"step": {"user": {"data_description": {"x": "X."}}}}},
        {"config": {"error": {"x": "X."}}},
        {"issues": {"x": {"title": "X"}}},
        {"issues": {"x": {"description": "X."}}},
        {"exceptions": {"x": {"message": "X [%key:common::state::on%]"}}},
        {"exceptions": {"x": {"message": "[%key:component::o365::nothing%]"}}},
        {"unknown_section": {}},
    ]
    for example in bad:
        assert translation_errors(example), example
    reference = {
        "exceptions": {"x": {"message": "[%key:common::config_flow::error::unknown%]"}}
    }
    assert translation_errors(reference) == []


@pytest.mark.parametrize("path", TRANSLATION_FILES, ids=lambda path: path.name)
def test_translations_have_no_urls(path: Path) -> None:
    """hassfest's rule: URLs go into description/translation placeholders."""
    texts = leaves(json.loads(path.read_text(encoding="utf-8")))
    assert {key: text for key, text in texts.items() if URL.search(text)} == {}


def frontend_icons() -> set[str]:
    """Return the Material Design icons the installed frontend ships."""
    icon_list = Path(hass_frontend.__file__).parent / "static" / "mdi" / "iconList.json"
    return {icon["name"] for icon in json.loads(icon_list.read_text(encoding="utf-8"))}


def test_icons_exist_in_the_frontend() -> None:
    """Every mdi: icon of icons.json is one the installed frontend can show.

    The frontend knows icons by their names only, not by MDI's aliases
    (mdi:email-send-outline is an alias of mdi:email-fast-outline and shows
    nothing).
    """
    icons = json.loads((INTEGRATION / "icons.json").read_text(encoding="utf-8"))
    used = set(leaves(icons).values())
    assert used
    assert all(icon.startswith("mdi:") for icon in used), used
    assert {icon.removeprefix("mdi:") for icon in used} - frontend_icons() == set()


# -- The README renders on GitHub -----------------------------------------------

FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")


def markdown_lines(markdown: str) -> tuple[list[str], list[tuple[int, str]]]:
    """Split Markdown into lines outside code blocks and the fences' problems."""
    outside: list[str] = []
    problems: list[tuple[int, str]] = []
    fence: tuple[int, str] | None = None
    for number, line in enumerate(markdown.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence = (number, match.group(1))
            else:
                outside.append(line)
        elif (
            match
            and match.group(1)[0] == fence[1][0]
            and len(match.group(1)) >= len(fence[1])
            and not match.group(2).strip()
        ):
            fence = None
        elif match and match.group(2).strip():
            # "```yaml" inside a block: the block before it was never closed.
            problems.append(
                (number, f"a block opens inside the block of line {fence[0]}")
            )
    if fence is not None:
        problems.append((fence[0], "code block never closed"))
    return outside, problems


def github_anchor(heading: str) -> str:
    """Return GitHub's anchor of a heading's text (as github-slugger makes it)."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    heading = heading.replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def readme_anchors(markdown: str) -> set[str]:
    """Return the anchors of the headings and of <a id> / <a name> tags."""
    outside, _ = markdown_lines(markdown)
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in outside:
        match = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
        if match:
            anchor = github_anchor(match.group(1))
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    anchors |= set(re.findall(r'<a\s+(?:id|name)="([^"]+)"', markdown))
    return anchors


def test_readme_code_blocks_are_closed() -> None:
    _, problems = markdown_lines(README)
    assert problems == []


def test_readme_in_page_links_have_anchors() -> None:
    outside, _ = markdown_lines(README)
    links = set(re.findall(r"\]\(#([^)\s]+)\)", "\n".join(outside)))
    assert links
    assert links - readme_anchors(README) == set()


def test_markdown_checks_find_what_github_renders_wrong() -> None:
    broken = "# Top\n\n```yaml\na: 1\n\n## Next\n\n```yaml\nb: 2\n```\n[up](#top)\n"
    outside, problems = markdown_lines(broken)
    assert problems == [(8, "a block opens inside the block of line 3")]
    assert "## Next" not in outside
    assert markdown_lines("text\n~~~\ncode\n```\n")[1] == [
        (2, "code block never closed")
    ]
    assert readme_anchors(
        "# Set up Entra ID (Azure)\n### `notify.o365`\n## FAQ\n## FAQ\n"
    ) == {
        "set-up-entra-id-azure",
        "notifyo365",
        "faq",
        "faq-1",
    }
