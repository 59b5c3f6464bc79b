"""Validation of request bodies against the vendored Microsoft Graph schemas.

``graph_schemas.json`` holds Graph's OpenAPI schemas for the mail bodies (see its
``x-provenance`` block). They are turned into JSON Schema 2020-12 this way:

* ``allOf`` inheritance is flattened into one object schema per type;
* OpenAPI's ``nullable: true`` becomes ``"type": [..., "null"]``;
* the generator's ``additionalProperties: {"type": "object"}`` is read as "the
  type is closed": like Graph, an unknown property is refused, while OData
  annotations (keys containing ``@``, such as ``@odata.type``) are allowed;
* property and action parameter names match case-insensitively, and so do enum
  values (Graph accepts ``Message`` and ``HTML``); bodies are returned with the
  schema's spelling;
* a type that others derive from (``microsoft.graph.attachment``) is abstract:
  the concrete type is chosen by ``@odata.type`` (``#microsoft.graph.fileAttachment``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_FILE = Path(__file__).with_name("graph_schemas.json")
ODATA_TYPE = "@odata.type"
_COMPONENT_REF = "#/components/schemas/"
_DEF_REF = "#/$defs/"
#: Action name -> (request body in the document, required parameters).
_ACTIONS: Mapping[str, tuple[str, list[str]]] = {
    "sendMail": ("sendMailRequestBody", ["Message"]),
    "createUploadSession": ("createUploadSessionRequestBody", ["AttachmentItem"]),
}
_SCALAR_KEYWORDS = ("type", "enum", "pattern", "minimum", "maximum")

JsonObject = dict[str, Any]


def _is_boolean(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "boolean" or (isinstance(kind, list) and "boolean" in kind)


class BodySchemaError(ValueError):
    """A body that does not match its schema; ``path`` names the offending value."""

    def __init__(self, path: str, message: str) -> None:
        """Keep the path (``Message.toRecipients[0]``) and the message."""
        super().__init__(f"{message} (at '{path}')" if path else message)
        self.path = path


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _format_path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, part)
    return path


def _object_node(properties: JsonObject) -> JsonObject:
    return {
        "type": "object",
        "properties": properties,
        "patternProperties": {"@": {}},
        "additionalProperties": False,
    }


class GraphSchemas:
    """Normalises and validates Graph request bodies."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        """Convert the OpenAPI components of ``document``."""
        components = document["components"]
        self._source: dict[str, JsonObject] = components["schemas"]
        self._flat: dict[str, JsonObject] = {}
        for name in self._source:
            self._flatten(name)
        self._derived: dict[str, list[str]] = {
            name: [other for other in self._source if self._base(other) == name]
            for name in self._source
        }
        self._defs = {name: self._dispatch(name) for name in self._source}
        bodies = {
            key.split(" ", 1)[0]: value
            for key, value in components["requestBodies"].items()
        }
        self._actions: dict[str, JsonObject] = {}
        for action, (body, required) in _ACTIONS.items():
            schema = bodies[body]["content"]["application/json"]["schema"]
            self._actions[action] = {**self._convert(schema), "required": required}
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    def load(cls, path: Path = SCHEMA_FILE) -> GraphSchemas:
        """Read the vendored schema file."""
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def action(self, action: str, body: object) -> JsonObject:
        """Return the parameters of an action body (``sendMail``...), normalised."""
        node = self._actions[action]
        if not isinstance(body, dict):
            raise BodySchemaError("", "The request body must be a JSON object.")
        unknown = (
            "The parameter '{key}' in the request payload is not a valid parameter "
            f"for the operation '{action}'."
        )
        normalised = self._normalise_object(body, node, "", unknown)
        self._check(f"action:{action}", {**node, "$defs": self._defs}, normalised)
        return normalised

    def entity(self, type_name: str, body: object) -> JsonObject:
        """Return an entity body (``microsoft.graph.message``...), normalised."""
        if not isinstance(body, dict):
            raise BodySchemaError("", "The request body must be a JSON object.")
        normalised = self._normalise_entity(body, type_name, "")
        schema = {"$ref": _DEF_REF + type_name, "$defs": self._defs}
        self._check(type_name, schema, normalised)
        return normalised

    # Conversion -------------------------------------------------------------

    def _base(self, name: str) -> str | None:
        """Return the type ``name`` derives from (its ``allOf`` reference)."""
        for part in self._source[name].get("allOf", []):
            if "$ref" in part:
                return str(part["$ref"]).removeprefix(_COMPONENT_REF)
        return None

    def _flatten(self, name: str) -> JsonObject:
        """Return the type as one closed object schema (inherited properties too)."""
        if name in self._flat:
            return self._flat[name]
        schema = self._source[name]
        if "allOf" in schema:
            properties: JsonObject = {}
            for part in schema["allOf"]:
                if "$ref" in part:
                    base = str(part["$ref"]).removeprefix(_COMPONENT_REF)
                    properties.update(self._flatten(base)["properties"])
                else:
                    properties.update(self._convert(part)["properties"])
            flat = _object_node(properties)
        else:
            flat = self._convert(schema)
        self._flat[name] = flat
        return flat

    def _convert(self, node: Mapping[str, Any]) -> JsonObject:
        """Convert one OpenAPI schema node to JSON Schema."""
        if "$ref" in node:
            return {"$ref": _DEF_REF + str(node["$ref"]).removeprefix(_COMPONENT_REF)}
        if node.get("type") == "object" or "properties" in node:
            return _object_node(
                {
                    key: self._convert(value)
                    for key, value in node.get("properties", {}).items()
                }
            )
        converted = {key: node[key] for key in _SCALAR_KEYWORDS if key in node}
        if "items" in node:
            converted["items"] = self._convert(node["items"])
        if node.get("nullable"):
            if "type" in converted:
                converted["type"] = [converted["type"], "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
        return converted

    def _dispatch(self, name: str) -> JsonObject:
        """Return the schema for a reference to ``name``, chosen by ``@odata.type``."""
        node = self._flat[name]
        for derived in self._derived[name]:
            node = {
                "if": {
                    "properties": {ODATA_TYPE: {"const": f"#{derived}"}},
                    "required": [ODATA_TYPE],
                },
                "then": self._flat[derived],
                "else": node,
            }
        return node

    # Normalisation ----------------------------------------------------------

    def _normalise(self, value: object, node: Mapping[str, Any], path: str) -> object:
        """Return ``value`` with property names and enum values spelt as in ``node``."""
        if "$ref" in node:
            return self._normalise_type(
                value, str(node["$ref"]).removeprefix(_DEF_REF), path
            )
        if isinstance(value, dict) and "properties" in node:
            return self._normalise_object(
                value, node, path, "The property '{key}' does not exist."
            )
        if isinstance(value, list) and "items" in node:
            return [
                self._normalise(item, node["items"], f"{path}[{index}]")
                for index, item in enumerate(value)
            ]
        if isinstance(value, str) and _is_boolean(node):
            # Graph's OData reader takes "true"/"false" strings for booleans
            # (Microsoft's own sendMail example sends saveToSentItems so).
            folded = value.casefold()
            return {"true": True, "false": False}.get(folded, value)
        if isinstance(value, str) and "enum" in node:
            folded = value.casefold()
            return next(
                (
                    choice
                    for choice in node["enum"]
                    if isinstance(choice, str) and choice.casefold() == folded
                ),
                value,
            )
        return value

    def _normalise_type(self, value: object, name: str, path: str) -> object:
        """Normalise a value of a named type."""
        if isinstance(value, dict):
            return self._normalise_entity(value, name, path)
        return self._normalise(value, self._flat[name], path)

    def _normalise_entity(
        self, value: Mapping[str, Any], name: str, path: str
    ) -> JsonObject:
        """Normalise an object of a named type, resolving ``@odata.type``."""
        concrete = name
        if self._derived[name]:
            concrete = self._concrete_type(value, name, path)
            value = {**value, ODATA_TYPE: f"#{concrete}"}
        unknown = (
            f"The property '{{key}}' does not exist on type '{concrete}'. Make sure "
            "to only use property names that are defined by the type."
        )
        return self._normalise_object(value, self._flat[concrete], path, unknown)

    def _concrete_type(self, value: Mapping[str, Any], name: str, path: str) -> str:
        """Return the concrete type an ``@odata.type`` annotation names."""
        declared = value.get(ODATA_TYPE)
        choices = self._derived[name]
        if declared is None:
            wanted = ", ".join(f"'#{choice}'" for choice in choices)
            raise BodySchemaError(
                path,
                f"Cannot create an abstract class: '{name}' needs '{ODATA_TYPE}' "
                f"({wanted}).",
            )
        folded = str(declared).removeprefix("#").casefold()
        for choice in choices:
            if choice.casefold() == folded:
                return choice
        raise BodySchemaError(
            _join(path, ODATA_TYPE),
            f"A type named '{declared}' could not be resolved by the model. When a "
            "model is available, each type name must resolve to a valid type.",
        )

    def _normalise_object(
        self,
        value: Mapping[str, Any],
        node: Mapping[str, Any],
        path: str,
        unknown: str,
    ) -> JsonObject:
        """Rename known properties to the schema's spelling; refuse unknown ones."""
        properties: Mapping[str, Any] = node["properties"]
        spelling = {key.casefold(): key for key in properties}
        normalised: JsonObject = {}
        for key, item in value.items():
            if "@" in key:
                normalised[key] = item
                continue
            canonical = spelling.get(key.casefold())
            if canonical is None:
                raise BodySchemaError(_join(path, key), unknown.format(key=key))
            child = _join(path, canonical)
            if canonical in normalised:
                raise BodySchemaError(child, f"The property '{key}' appears twice.")
            normalised[canonical] = self._normalise(item, properties[canonical], child)
        return normalised

    def _check(self, key: str, schema: JsonObject, instance: JsonObject) -> None:
        """Validate with JSON Schema and raise the most relevant error."""
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = Draft202012Validator(schema)
        error = best_match(validator.iter_errors(instance))
        if error is not None:
            raise BodySchemaError(
                _format_path(error.absolute_path), f"Invalid value: {error.message}"
            )
