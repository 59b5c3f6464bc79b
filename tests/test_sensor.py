"""The diagnostic sensors as a user sees them in a burst of alerts."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.o365.budget import REFRESH_INTERVAL

from .conftest import Clock, GraphMock, alert

RECIPIENTS = "sensor.alerts_contoso_com_recipients_in_24_hours"


def shown(hass: HomeAssistant) -> int:
    state = hass.states.get(RECIPIENTS)
    assert state is not None
    return int(state.state)


async def test_recipients_follow_a_burst_once_a_second(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
) -> None:
    """The first alert shows at once; the rest of a burst within a second."""
    assert shown(hass) == 0
    await alert(hass, "first")
    assert shown(hass) == 1
    writes: list[str] = []
    hass.bus.async_listen(
        "state_changed", lambda event: writes.append(event.data["entity_id"])
    )
    for number in range(5):
        await alert(hass, f"burst {number}")
    assert len(graph_mock.sent()) == 6
    assert shown(hass) == 1
    await clock.tick(REFRESH_INTERVAL)
    assert shown(hass) == 6
    assert writes.count(RECIPIENTS) == 1  # one write for the five alerts
    # A quiet second later, the next alert shows at once again.
    await clock.tick(REFRESH_INTERVAL)
    await alert(hass, "later")
    assert shown(hass) == 7
