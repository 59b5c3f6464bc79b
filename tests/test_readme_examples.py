"""The README's automation examples, run as written."""

from __future__ import annotations

import base64
from pathlib import Path
import re

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from .conftest import JPEG, GraphMock

README = Path(__file__).parent.parent / "README.md"
EXAMPLE = re.compile(
    r"<!-- example: (?P<name>[\w-]+) -->\s*```yaml\n(?P<yaml>.*?)```", re.S
)


def example(name: str, config_dir: Path) -> list[dict]:
    """Return an example's automations, with /config pointing at the test config."""
    examples = {m["name"]: m["yaml"] for m in EXAMPLE.finditer(README.read_text())}
    text = examples[name].replace("/config/", f"{config_dir}/")
    automations = yaml.safe_load(text)
    assert isinstance(automations, list)
    return automations


async def run(hass: HomeAssistant, automations: list[dict]) -> None:
    assert await async_setup_component(hass, "automation", {"automation": automations})
    await hass.async_block_till_done()
    await hass.services.async_call(
        "automation",
        "trigger",
        {ATTR_ENTITY_ID: "all", "skip_condition": True},
        blocking=True,
    )
    await hass.async_block_till_done()
    # Detach the triggers (the time trigger would leave a timer behind).
    await hass.services.async_call(
        "automation", "turn_off", {ATTR_ENTITY_ID: "all"}, blocking=True
    )


def test_readme_has_the_three_examples() -> None:
    names = {m["name"] for m in EXAMPLE.finditer(README.read_text())}
    assert {"text-alert", "html-snapshot", "file-attachment"} <= names


async def test_text_alert_example(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    tmp_path: Path,
) -> None:
    await run(hass, example("text-alert", tmp_path))
    (body,) = graph_mock.sent()
    message = body["message"]
    assert message["subject"] == "Water leak in the kitchen"
    assert re.fullmatch(
        r"The kitchen leak sensor turned on at \d\d:\d\d\.", message["body"]["content"]
    )
    assert [r["emailAddress"] for r in message["toRecipients"]] == [
        {"address": "alerts@example.com"},
        {"address": "desk@example.com", "name": "Night Desk"},
    ]


async def test_html_snapshot_example(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    front_door: str,
    tmp_path: Path,
) -> None:
    await run(hass, example("html-snapshot", tmp_path))
    (body,) = graph_mock.sent()
    message = body["message"]
    assert message["importance"] == "high"
    assert message["body"]["contentType"] == "html"
    assert 'src="cid:camera.front_door"' in message["body"]["content"]
    # Referenced by the HTML, so not appended a second time.
    assert message["body"]["content"].count("cid:camera.front_door") == 1
    (snapshot,) = message["attachments"]
    assert snapshot["contentId"] == "camera.front_door"
    assert base64.b64decode(snapshot["contentBytes"]) == JPEG


async def test_file_attachment_example(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    tmp_path: Path,
) -> None:
    reports = tmp_path / "www" / "reports"
    reports.mkdir(parents=True)
    (reports / "energy.pdf").write_bytes(b"%PDF energy")
    hass.config.allowlist_external_dirs = {str(tmp_path / "www")}
    await run(hass, example("file-attachment", tmp_path))
    (body,) = graph_mock.sent()
    (pdf,) = body["message"]["attachments"]
    assert pdf["name"] == "energy.pdf"
    assert pdf["contentType"] == "application/pdf"
    assert base64.b64decode(pdf["contentBytes"]) == b"%PDF energy"
