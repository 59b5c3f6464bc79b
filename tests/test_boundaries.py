"""Property-based tests of every input boundary: junk in, a clear error out.

Hypothesis generates values of every JSON/YAML shape (strings with control
characters and huge lengths, numbers, booleans, nulls, nested lists and
mappings, paths outside the allowlist, URLs to link-local and file schemes)
for each field of each action, config-flow step and option, against a real
Home Assistant with Graph mocked. Every call must end in a valid request or
in Home Assistant's validation/service error that names the field; a refused
call sends nothing to Graph, and no file outside ``allowlist_external_dirs``
and no URL outside ``allowlist_external_urls`` is ever read.

The runs are bounded and derandomized (the same examples in every run);
the explicit ``@example`` cases are the crashes the generators found, kept
as regressions. How many inputs each boundary received is printed at the end
of the pytest run.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Iterator
import contextlib
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from hypothesis import HealthCheck, example, given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.o365.apprise import parse_apprise_url
from custom_components.o365.const import DOMAIN
from custom_components.o365.credentials import (
    _ERROR_FIELDS,
    FORM_ERRORS as _FORM_ERRORS,
)

from .conftest import (
    BOUNDARY_REPORT,
    GRAPH,
    LOGIN,
    DelegatedEntra,
    GraphMock,
    open_menu_step,
    signed_in_entry,
)

#: Examples per boundary: fixed, and the same ones every run.
EXAMPLES = 60
BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
ALLOWED_URL = "https://files.example.com/public/"
#: A file outside the allowlist whose bytes must never reach Graph.
SECRET_BYTES = b"never-attach-this-file"

pytestmark = pytest.mark.filterwarnings("ignore:Attempted too soon")

# -- what junk looks like ---------------------------------------------------------

_CONTROL = st.text(
    st.characters(min_codepoint=0, max_codepoint=31), min_size=1, max_size=5
)
_SPECIAL = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "line\nbreak",
    "/etc/passwd",
    "../../../../etc/shadow",
    "/config/secrets.yaml",
    "secrets.yaml",
    "file:///etc/passwd",
    "FILE:///etc/hosts",
    "http://169.254.169.254/latest/meta-data/",
    "https://[fe80::1]/x",
    "http://127.0.0.1:8123/api/",
    "https://files.example.com/public/../private/x",
    "https://files.example.com.evil.com/public/x",
    "https://user:pass@files.example.com/public/x",
    "data:text/plain,hello",
    "ftp://example.com/x",
    "javascript:alert(1)",
    "media-source://camera/camera.nope",
    "media-source://media_source/local/../../etc/passwd",
    "media-source://",
    "camera.front_door",
    "camera.",
    "notacamera",
    "CAMERA.FRONT_DOOR",
    "a@b.co",
    "Name <a@b.co>",
    "Name <a@b.co",
    "<a@b.co>",
    "@",
    "a@b",
    "x" * 5000,
    "é" * 300,
    "\U0001d518\U0001d52b\U0001d526",
    "<script>alert(1)</script>",
    "%00",
    "%2e%2e%2f",
    "{{ states('sensor.x') }}",
    "low",
    "HIGH",
    "true",
    "yes",
    "0",
    "none",
    # Relative paths start in the configuration folder: one step up are the
    # test's allowlisted folder and a folder outside the allowlist.
    "../outside/secret.txt",
    "../allowed/report.pdf",
    "../allowed/../outside/secret.txt",
    "https://files.example.com/public/chart.png",
]
_HUGE = st.integers(min_value=10_000, max_value=300_000).map(lambda n: "a" * n)
TEXT = st.one_of(st.text(max_size=40), _CONTROL, st.sampled_from(_SPECIAL), _HUGE)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)


def json_values(keys: list[str] | None = None) -> st.SearchStrategy[Any]:
    """Any JSON/YAML shape, nested, with mapping keys that look real sometimes."""
    key = st.one_of(st.text(max_size=10), st.sampled_from(keys or ["path", "url"]))
    return st.recursive(
        SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(key, children, max_size=4),
        ),
        max_leaves=10,
    )


def one_field(
    base: dict[str, Any], junk: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """A valid input with one of its fields (or a new one) replaced by junk."""
    return st.tuples(st.sampled_from(sorted(base)), junk).map(
        lambda pair: {**base, pair[0]: pair[1]}
    )


#: Mostly text (what the UI's text boxes send), sometimes any other shape.
FIELD_JUNK = st.one_of(TEXT, TEXT, TEXT, json_values())

ATTACHMENT_KEYS = [
    "path",
    "url",
    "media_content_id",
    "name",
    "filename",
    "content_type",
    "content_id",
    "media_content_type",
    "entity_id",
    "metadata",
]
DATA_KEYS = [
    "html",
    "cc",
    "bcc",
    "reply_to",
    "importance",
    "cameras",
    "attachments",
    "images",
    "save_to_sent_items",
    "account",
]

# -- checking what came out ---------------------------------------------------------


class Watch:
    """Counts what reached Graph and checks nothing forbidden was read or fetched."""

    def __init__(self, graph_mock: GraphMock, name: str) -> None:
        self.graph_mock = graph_mock
        self.name = name
        self.outcomes: Counter[str] = Counter()

    def graph_writes(self) -> int:
        return sum(
            len(calls)
            for (method, url), calls in self.graph_mock.mocked.requests.items()
            if method in ("POST", "PUT") and str(url).startswith(GRAPH)
        )

    def check_reads(self) -> None:
        secret = base64.b64encode(SECRET_BYTES).decode()
        for (_, url), calls in self.graph_mock.mocked.requests.items():
            text = str(url)
            # Only Microsoft (mocked) and the allowlisted URL prefix are fetched.
            assert text.startswith((GRAPH, LOGIN, ALLOWED_URL)), text
            for call in calls:
                body = call.kwargs.get("data")
                if isinstance(body, bytes | str):
                    assert secret not in str(body), (
                        "a file outside the allowlist was sent"
                    )

    @contextlib.contextmanager
    def call(self, description: Any) -> Iterator[None]:
        """Run one example: allowed outcomes only; refused means nothing sent."""
        before = self.graph_writes()
        error: Exception | None = None
        try:
            yield
        except (vol.Invalid, HomeAssistantError) as err:
            error = err
        except Exception:
            self.outcomes["crash"] += 1
            raise
        self.check_reads()
        if error is None:
            self.outcomes["accepted"] += 1
            return
        kind = type(error).__name__
        if not isinstance(error, vol.Invalid | ServiceValidationError):
            # Translated errors only (a download that failed, a queue-off
            # refusal): never a bare exception text.
            assert isinstance(error, HomeAssistantError)
            assert error.translation_key, (description, error)
            self.outcomes[f"HomeAssistantError {error.translation_key}"] += 1
            return
        self.outcomes["vol.Invalid" if isinstance(error, vol.Invalid) else kind] += 1
        assert self.graph_writes() == before, ("sent although refused", description)
        if isinstance(error, vol.Invalid):
            assert error.path or str(error), description
        else:
            self._names_the_field(error, description)

    @staticmethod
    def _names_the_field(err: ServiceValidationError, description: Any) -> None:
        assert err.translation_key, description
        placeholders = err.translation_placeholders or {}
        if err.translation_key == "invalid_data":
            details = placeholders["details"]
            assert details, description
            fields = list(description) if isinstance(description, dict) else []
            assert not fields or any(
                str(f) in details or f == placeholders.get("what") for f in fields
            ), (placeholders, description)
        else:
            assert any(placeholders.values()) or err.translation_key == "no_account", (
                err.translation_key,
                description,
            )

    def report(self) -> None:
        crashes = self.outcomes.pop("crash", 0)
        total = sum(self.outcomes.values()) + crashes
        detail = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        BOUNDARY_REPORT.append(
            f"{self.name:<36} inputs {total:>4}  crashes {crashes}  ({detail})"
        )


@pytest.fixture
async def ready(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    tmp_path: Path,
    front_door: str,
) -> MockConfigEntry:
    """A loaded account, an allowlisted folder with a file, one outside it."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "report.pdf").write_bytes(b"%PDF-1.7 report")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET_BYTES)
    hass.config.allowlist_external_dirs = {str(allowed)}
    hass.config.allowlist_external_urls = {ALLOWED_URL}
    graph_mock.mocked.get(
        f"{ALLOWED_URL}chart.png",
        body=b"\x89PNG chart",
        content_type="image/png",
        repeat=True,
    )
    return init_integration


@pytest.fixture
def watch(graph_mock: GraphMock, request: pytest.FixtureRequest) -> Iterator[Watch]:
    watcher = Watch(graph_mock, request.node.name.removeprefix("test_"))
    yield watcher
    watcher.report()


async def notify(hass: HomeAssistant, **service_data: Any) -> None:
    await hass.services.async_call("notify", "o365", service_data, blocking=True)


# -- notify.o365 --------------------------------------------------------------------


@pytest.mark.parametrize("key", DATA_KEYS)
@BOUNDED
@given(value=st.one_of(FIELD_JUNK, json_values(ATTACHMENT_KEYS)))
@example(value=0)  # cameras: 0 ended in "TypeError: 'int' object is not iterable"
@example(value=1.5)
@example(value=-1)
@example(value=True)
@example(value={})  # cameras: {} was accepted as "no cameras"
@example(value={"path": "http://x"})  # a path that is a URL crashed compose
@example(value=[{"path": "media-source://camera/camera.front_door"}])
@example(value=["a\x00b"])  # an embedded NUL reached the file system
@example(value=["x" * 5000])  # a path too long for the file system
@example(value=5)  # html: 5 became an HTML body "5"
async def test_notify_data_values(
    hass: HomeAssistant, ready: MockConfigEntry, watch: Watch, key: str, value: Any
) -> None:
    watch.name = f"notify.o365 data.{key}"
    data = {key: value}
    with watch.call(data):
        await notify(hass, message="m", data=data)


@BOUNDED
@given(
    data=st.dictionaries(
        st.one_of(st.sampled_from(DATA_KEYS), TEXT),
        json_values(ATTACHMENT_KEYS),
        max_size=4,
    )
)
async def test_notify_data_mappings(
    hass: HomeAssistant, ready: MockConfigEntry, watch: Watch, data: dict[str, Any]
) -> None:
    """Several keys at once, and unknown keys (refused, named)."""
    watch.name = "notify.o365 data (several keys)"
    with watch.call(data):
        await notify(hass, message="m", data=data)


@BOUNDED
@given(
    message=FIELD_JUNK,
    title=FIELD_JUNK,
    target=st.one_of(FIELD_JUNK, st.lists(TEXT, max_size=3)),
)
@example(message=None, title=None, target=None)
@example(message="m", title="t", target=[None])
@example(message="m", title="t", target={"a": "b"})
async def test_notify_message_title_target(
    hass: HomeAssistant,
    ready: MockConfigEntry,
    watch: Watch,
    message: Any,
    title: Any,
    target: Any,
) -> None:
    watch.name = "notify.o365 message/title/target"
    call: dict[str, Any] = {"message": message, "title": title, "target": target}
    with watch.call({"target": target}):
        await notify(hass, **{k: v for k, v in call.items() if v is not None})


# -- entity actions --------------------------------------------------------------------

SEND_FIELDS = ["message", "title", "to", *DATA_KEYS[:-1]]


@BOUNDED
@given(
    fields=st.one_of(
        one_field(
            {"message": "m", "title": "t", "to": ["a@b.co"]},
            st.one_of(FIELD_JUNK, json_values(ATTACHMENT_KEYS)),
        ),
        st.tuples(st.sampled_from(SEND_FIELDS[3:]), json_values(ATTACHMENT_KEYS)).map(
            lambda pair: {"message": "m", pair[0]: pair[1]}
        ),
    )
)
@example(fields={"message": "m", "attachments": [{"url": "file:///etc/passwd"}]})
@example(fields={"message": "m", "attachments": {"media_content_id": 5}})
@example(fields={"message": "m", "cameras": 0})
async def test_o365_send_message_fields(
    hass: HomeAssistant, ready: MockConfigEntry, watch: Watch, fields: dict[str, Any]
) -> None:
    watch.name = "o365.send_message"
    with watch.call(fields):
        await hass.services.async_call(
            DOMAIN,
            "send_message",
            {"entity_id": "notify.alerts_contoso_com_email", **fields},
            blocking=True,
        )


@BOUNDED
@given(message=FIELD_JUNK, title=FIELD_JUNK)
async def test_notify_send_message(
    hass: HomeAssistant,
    ready: MockConfigEntry,
    watch: Watch,
    message: Any,
    title: Any,
) -> None:
    watch.name = "notify.send_message"
    call = {"entity_id": "notify.alerts_contoso_com_email", "message": message}
    if title is not None:
        call["title"] = title
    with watch.call({"message": message}):
        await hass.services.async_call("notify", "send_message", call, blocking=True)


# -- config flow, reauth, reconfigure, options ---------------------------------------


@contextlib.contextmanager
def flow_step(watch: Watch, description: Any) -> Iterator[Callable[[Any], None]]:
    """A form step: InvalidData (the form schema) or a form with known errors."""
    results: list[Any] = []
    refused: InvalidData | None = None
    try:
        yield results.append
    except InvalidData as err:
        refused = err
    except Exception:
        watch.outcomes["crash"] += 1
        raise
    watch.check_reads()
    if refused is not None:
        watch.outcomes["InvalidData"] += 1
        assert refused.schema_errors, description
        return
    (result,) = results
    if result["type"] is FlowResultType.FORM and result.get("errors"):
        watch.outcomes["form error"] += 1
        fields = {str(key) for key in result["data_schema"].schema}
        for field, key in result["errors"].items():
            assert key in FORM_KEYS, key
            assert field == "base" or field in fields, field
            assert field == _ERROR_FIELDS.get(key, field), (field, key)
    else:
        watch.outcomes[str(result["type"])] += 1


#: Every error key a form may show.
FORM_KEYS = _FORM_ERRORS | {
    "secret_or_certificate",
    "test_email_needs_address",
    "invalid_apprise_url",
    "invalid_recipient",
    "backup_loop",
    "unknown",
}
CREDENTIAL_KEYS = [
    "source",
    "tenant_id",
    "client_id",
    "client_secret",
    "certificate",
    "cloud",
    "send_test_email",
]


VALID_INPUT = {
    "credentials": {
        "source": "alerts@contoso.com",
        "tenant_id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
        "client_id": "0f0c0f8e-2b7a-4d0e-9a51-4d0c3a1e7b11",
        "client_secret": "a secret",
        "cloud": "global",
        "send_test_email": False,
    },
    "sign_in": {
        "client_id": "4b7c2a90-1e5d-4f3a-8c6b-9d0e1f2a3b4c",
        "tenant_id": "consumers",
        "cloud": "global",
        "large_attachments": False,
    },
    "apprise": {
        "url": "o365://alerts@contoso.com/contoso.com/0f0c0f8e-2b7a-4d0e-9a51-4d0c3a1e7b11/secret"
    },
}


@pytest.mark.parametrize("step", list(VALID_INPUT))
@BOUNDED
@given(data=st.data())
@example(data=None)
async def test_config_flow_steps(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    delegated: DelegatedEntra,
    watch: Watch,
    step: str,
    data: st.DataObject | None,
) -> None:
    watch.name = f"config flow {step}"
    graph_mock.sign_in()
    graph_mock.send_mail()
    base = VALID_INPUT[step]
    extra = {"certificate": FIELD_JUNK} if step == "credentials" else {}
    values = (
        {**base, "tenant_id": "a\x00b"}
        if data is None
        else data.draw(
            st.one_of(
                one_field(base, FIELD_JUNK),
                *(
                    st.builds(lambda v, k=k: {**base, "client_secret": "", k: v}, junk)
                    for k, junk in extra.items()
                ),
            )
        )
    )
    flow_id = await open_menu_step(hass, step)
    with (
        patch("custom_components.o365.async_setup_entry", return_value=True),
        flow_step(watch, values) as record,
    ):
        record(await hass.config_entries.flow.async_configure(flow_id, values))
    with contextlib.suppress(Exception):
        hass.config_entries.flow.async_abort(flow_id)
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_remove(entry.entry_id)


@pytest.mark.parametrize("kind", ["reauth", "reconfigure"])
@BOUNDED
@given(
    values=st.one_of(
        one_field({"client_secret": "new secret"}, FIELD_JUNK),
        one_field({"certificate": "x"}, FIELD_JUNK),
        one_field(
            {
                k: v
                for k, v in VALID_INPUT["credentials"].items()
                if k != "send_test_email"
            },
            FIELD_JUNK,
        ),
    )
)
async def test_reauth_and_reconfigure(
    hass: HomeAssistant,
    ready: MockConfigEntry,
    watch: Watch,
    kind: str,
    values: dict[str, Any],
) -> None:
    watch.name = f"config flow {kind} (app)"
    start = (
        ready.start_reauth_flow if kind == "reauth" else ready.start_reconfigure_flow
    )
    result = await start(hass)
    with flow_step(watch, values) as record:
        record(
            await hass.config_entries.flow.async_configure(result["flow_id"], values)
        )
    with contextlib.suppress(Exception):
        hass.config_entries.flow.async_abort(result["flow_id"])


@BOUNDED
@given(values=one_field(VALID_INPUT["sign_in"], FIELD_JUNK))
async def test_reconfigure_a_signed_in_account(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    delegated: DelegatedEntra,
    watch: Watch,
    values: dict[str, Any],
) -> None:
    watch.name = "config flow reconfigure (signed in)"
    entry = signed_in_entry(delegated)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    with flow_step(watch, values) as record:
        record(
            await hass.config_entries.flow.async_configure(result["flow_id"], values)
        )
    with contextlib.suppress(Exception):
        hass.config_entries.flow.async_abort(result["flow_id"])


OPTION_KEYS = [
    "default_recipients",
    "backup_account",
    "save_to_sent_items",
    "queue_on_failure",
    "outbox_max_age_hours",
    "max_message_size_mb",
    "secret_expires",
]


@BOUNDED
@given(
    values=st.one_of(
        st.tuples(st.sampled_from(OPTION_KEYS), FIELD_JUNK).map(lambda p: {p[0]: p[1]}),
        st.lists(TEXT, max_size=3).map(lambda r: {"default_recipients": r}),
        st.integers(-5, 500).map(lambda n: {"max_message_size_mb": n}),
        st.integers(-5, 500).map(lambda n: {"outbox_max_age_hours": n}),
    )
)
@example(values={"default_recipients": ["Name <a@b.co"]})
@example(values={"backup_account": "alerts@contoso.com"})
@example(values={"secret_expires": "2027-02-30"})
async def test_options(
    hass: HomeAssistant, ready: MockConfigEntry, watch: Watch, values: dict[str, Any]
) -> None:
    watch.name = "options"
    result = await hass.config_entries.options.async_init(ready.entry_id)
    with flow_step(watch, values) as record:
        record(
            await hass.config_entries.options.async_configure(result["flow_id"], values)
        )
    with contextlib.suppress(Exception):
        hass.config_entries.options.async_abort(result["flow_id"])


# -- the Apprise URL parser -------------------------------------------------------


@settings(BOUNDED, max_examples=EXAMPLES * 5)
@given(
    url=st.one_of(
        TEXT,
        st.builds(
            "{}://{}".format,
            st.sampled_from(["o365", "azure", "O365", "mailto", ""]),
            st.lists(
                st.one_of(
                    TEXT,
                    st.sampled_from(
                        [
                            "a@outlook.com",
                            "x@contoso.com",
                            "%2F",
                            "?mode=personal",
                            "?to=a@b.co",
                        ]
                    ),
                ),
                max_size=6,
            ).map("/".join),
        ),
    )
)
def test_apprise_parser(url: str) -> None:
    try:
        settings_ = parse_apprise_url(url)
    except ValueError:
        BOUNDARY_REPORT_COUNTS["refused"] += 1
        return
    BOUNDARY_REPORT_COUNTS["parsed"] += 1
    assert settings_.mode in ("org", "personal")
    assert settings_.client_id
    assert settings_.secret


BOUNDARY_REPORT_COUNTS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _apprise_report() -> Iterator[None]:
    yield
    if BOUNDARY_REPORT_COUNTS:
        total = sum(BOUNDARY_REPORT_COUNTS.values())
        BOUNDARY_REPORT.append(
            f"{'Apprise URL parser':<34} inputs {total:>4}  crashes 0  "
            f"(parsed {BOUNDARY_REPORT_COUNTS['parsed']}, refused {BOUNDARY_REPORT_COUNTS['refused']})"
        )
