"""The snapshot-alert blueprint, loaded and run by Home Assistant itself."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any
from urllib.parse import parse_qs, urlsplit

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint import importer
from homeassistant.components.blueprint.models import Blueprint
from homeassistant.core import HomeAssistant, State
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    mock_restore_cache,
)

from .conftest import JPEG, GraphMock

ROOT = Path(__file__).parent.parent
BLUEPRINT = ROOT / "blueprints" / "automation" / "o365" / "snapshot_alert.yaml"
RAW_URL = (
    "https://raw.githubusercontent.com/o365-home-assistant/o365/main/"
    "blueprints/automation/o365/snapshot_alert.yaml"
)
SENSOR = "binary_sensor.front_door_motion"
SENSOR_ATTRIBUTES = {"device_class": "motion", "friendly_name": "Front door motion"}
RECIPIENTS = ["me@example.com", "Night Desk <desk@example.com>"]


def load_blueprint() -> Blueprint:
    """Parse the file as Home Assistant does (with !input) and validate it."""
    return Blueprint(
        load_yaml_dict(BLUEPRINT),
        path=str(BLUEPRINT),
        expected_domain="automation",
        schema=AUTOMATION_BLUEPRINT_SCHEMA,
    )


def test_blueprint_is_valid() -> None:
    blueprint = load_blueprint()
    assert blueprint.domain == "automation"
    assert blueprint.name == "Snapshot alert by email (Office 365)"
    assert set(blueprint.inputs) == {
        "sensor",
        "camera",
        "recipients",
        "subject",
        "cooldown",
    }
    # Optional inputs have defaults; the sensor and the camera must be chosen.
    assert {name for name, spec in blueprint.inputs.items() if "default" in spec} == {
        "recipients",
        "subject",
        "cooldown",
    }
    assert blueprint.validate() is None  # the min_version is met


def test_readme_import_button_points_at_the_file() -> None:
    """The README's my.home-assistant.io link imports this file from main."""
    readme = (ROOT / "README.md").read_text()
    link = next(
        part.split(")", 1)[0]
        for part in readme.split("](")
        if part.startswith("https://my.home-assistant.io/create-link/")
    )
    query = parse_qs(urlsplit(link).query)
    assert query["redirect"] == ["blueprint_import"]
    assert query["blueprint_url"] == [RAW_URL]
    # The blueprint's source_url is what Home Assistant's importer turns into
    # the same raw URL.
    source_url = load_blueprint().metadata["source_url"]
    assert importer._get_github_import_url(source_url) == RAW_URL


async def _set_up(hass: HomeAssistant, **inputs: Any) -> None:
    folder = Path(hass.config.path("blueprints", "automation", "o365"))
    folder.mkdir(parents=True)
    shutil.copy(BLUEPRINT, folder / BLUEPRINT.name)
    hass.states.async_set(SENSOR, "off", SENSOR_ATTRIBUTES)
    config = {
        "alias": "Front door snapshot",
        "use_blueprint": {
            "path": "o365/snapshot_alert.yaml",
            "input": {"sensor": SENSOR, "camera": "camera.front_door", **inputs},
        },
    }
    assert await async_setup_component(hass, "automation", {"automation": [config]})
    await hass.async_block_till_done()
    assert hass.states.get("automation.front_door_snapshot") is not None


async def _motion(hass: HomeAssistant) -> None:
    """The sensor turns on, and off again."""
    hass.states.async_set(SENSOR, "on", SENSOR_ATTRIBUTES)
    await hass.async_block_till_done()
    hass.states.async_set(SENSOR, "off", SENSOR_ATTRIBUTES)
    await hass.async_block_till_done()


async def _motion_later(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, delay: timedelta
) -> None:
    """Let ``delay`` pass, then motion again."""
    freezer.tick(delay)
    async_fire_time_changed(hass)
    await _motion(hass)


async def test_snapshot_alert_with_cool_down(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    front_door: str,
    freezer: FrozenDateTimeFactory,
) -> None:
    await _set_up(hass, recipients=RECIPIENTS, cooldown=10)

    await _motion(hass)
    (body,) = graph_mock.sent()
    message = body["message"]
    assert message["subject"] == "Front door motion turned on"
    assert message["body"]["contentType"] == "html"
    content = message["body"]["content"]
    assert "<h2>Front door motion</h2>" in content
    assert 'src="cid:camera.front_door"' in content
    assert content.count("cid:camera.front_door") == 1  # referenced, not appended
    (snapshot,) = message["attachments"]
    assert snapshot["contentId"] == front_door
    assert snapshot["isInline"] is True
    assert base64.b64decode(snapshot["contentBytes"]) == JPEG
    assert [r["emailAddress"] for r in message["toRecipients"]] == [
        {"address": "me@example.com"},
        {"address": "desk@example.com", "name": "Night Desk"},
    ]

    # A storm of triggers inside the cool-down: no second email.
    for _ in range(3):
        await _motion_later(hass, freezer, timedelta(minutes=3))
    assert len(graph_mock.sent()) == 1

    # After the cool-down (10 minutes since the first email), the next one.
    await _motion_later(hass, freezer, timedelta(minutes=1, seconds=1))
    assert len(graph_mock.sent()) == 2

    # The cool-down counts from that email.
    await _motion_later(hass, freezer, timedelta(minutes=9))
    assert len(graph_mock.sent()) == 2


async def test_snapshot_alert_defaults(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    front_door: str,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No recipients: the account's defaults (the mailbox); a custom subject."""
    await _set_up(hass, subject="Someone at {{ trigger.to_state.name | lower }}")
    await _motion(hass)
    (body,) = graph_mock.sent()
    message = body["message"]
    assert message["subject"] == "Someone at front door motion"
    assert [r["emailAddress"]["address"] for r in message["toRecipients"]] == [
        "alerts@contoso.com"
    ]
    # The default cool-down is 5 minutes.
    await _motion_later(hass, freezer, timedelta(minutes=4, seconds=59))
    assert len(graph_mock.sent()) == 1
    await _motion_later(hass, freezer, timedelta(seconds=2))
    assert len(graph_mock.sent()) == 2


async def test_cool_down_survives_a_restart(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    front_door: str,
    freezer: FrozenDateTimeFactory,
) -> None:
    """last_triggered is restored at start: an email a minute before still counts."""
    last = dt_util.utcnow() - timedelta(minutes=1)
    mock_restore_cache(
        hass,
        [State("automation.front_door_snapshot", "on", {"last_triggered": last})],
    )
    await _set_up(hass)
    await _motion(hass)
    assert graph_mock.sent() == []
    await _motion_later(hass, freezer, timedelta(minutes=4))
    assert len(graph_mock.sent()) == 1
