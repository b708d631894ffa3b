"""The GraphQL documents sent to KRE's admin API, and what their answers mean.

Every document uses only what KRE's schema has at both kre-7.0.0 and kre-8.0.0
(konstellation-io/kre: engine/admin-api/schema.graphql), the releases that run KRT v1; the
contract test validates each one against both schemas. KRE's version states
(``VersionStatus``): CREATING, CREATED, STARTING, STARTED, PUBLISHED, STOPPING, STOPPED, ERROR.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The runtime (it must exist: ``runtime`` is non-null, KRE answers "error runtime not found")
#: and the names already taken in it (a version name is unique in a runtime).
RUNTIME = """\
query KedroKrtRuntime($runtimeId: ID!) {
  runtime(id: $runtimeId) {
    id
    name
    entrypointAddress
  }
  versions(runtimeId: $runtimeId) {
    name
    status
  }
}
"""

#: The upload, as a GraphQL multipart request: ``variables.input.file`` is null in the
#: operations part and mapped to the file part.
CREATE_VERSION = """\
mutation KedroKrtCreateVersion($input: CreateVersionInput!) {
  createVersion(input: $input) {
    id
    name
    status
  }
}
"""

_VERSION_FIELDS = """\
    id
    name
    status
    errors
    config {
      completed
      vars {
        key
        value
        type
      }
    }
"""

VERSION = (
    "query KedroKrtVersion($name: String!, $runtimeId: ID!) {\n"
    "  version(name: $name, runtimeId: $runtimeId) {\n"
    f"{_VERSION_FIELDS}"
    "  }\n"
    "}\n"
)

UPDATE_CONFIGURATION = (
    "mutation KedroKrtConfigure($input: UpdateConfigurationInput!) {\n"
    "  updateVersionConfiguration(input: $input) {\n"
    f"{_VERSION_FIELDS}"
    "  }\n"
    "}\n"
)

START_VERSION = """\
mutation KedroKrtStart($input: StartVersionInput!) {
  startVersion(input: $input) {
    id
    name
    status
  }
}
"""

PUBLISH_VERSION = """\
mutation KedroKrtPublish($input: PublishVersionInput!) {
  publishVersion(input: $input) {
    id
    name
    status
  }
}
"""

#: Every document, by operation name: what the contract test checks against KRE's schemas.
DOCUMENTS: dict[str, str] = {
    "KedroKrtRuntime": RUNTIME,
    "KedroKrtCreateVersion": CREATE_VERSION,
    "KedroKrtVersion": VERSION,
    "KedroKrtConfigure": UPDATE_CONFIGURATION,
    "KedroKrtStart": START_VERSION,
    "KedroKrtPublish": PUBLISH_VERSION,
}

#: What each operation is, in the words of a message to the user.
DESCRIPTIONS: dict[str, str] = {
    "KedroKrtRuntime": "the runtime's query (runtime, versions)",
    "KedroKrtCreateVersion": "the upload (createVersion)",
    "KedroKrtVersion": "the version's query (version)",
    "KedroKrtConfigure": "the configuration (updateVersionConfiguration)",
    "KedroKrtStart": "the start (startVersion)",
    "KedroKrtPublish": "the publication (publishVersion)",
}


def describe(operation: str) -> str:
    """An operation's name as a message shows it."""
    return DESCRIPTIONS.get(operation, operation)


#: Where the file goes in CREATE_VERSION's variables (the multipart request's ``map``).
UPLOAD_PATH = "variables.input.file"

#: States from which a version moves on by itself; the others wait for a user's action.
IN_PROGRESS = frozenset({"CREATING", "STARTING", "STOPPING"})


@dataclass(frozen=True)
class ConfigVar:
    """A configuration variable of a version; the value never shows in a repr or a log."""

    key: str
    type: str
    value: str = field(repr=False, default="")

    @property
    def is_set(self) -> bool:
        return self.value != ""


@dataclass(frozen=True)
class VersionState:
    """What KRE says of a version: its status, its errors, its configuration."""

    name: str
    status: str
    errors: tuple[str, ...] = ()
    config_completed: bool = True
    config: tuple[ConfigVar, ...] = ()
    id: str = ""

    @classmethod
    def from_graphql(cls, data: Mapping[str, Any]) -> VersionState:
        config = data.get("config") or {}
        return cls(
            name=str(data.get("name") or ""),
            status=str(data.get("status") or ""),
            errors=tuple(str(e) for e in data.get("errors") or ()),
            config_completed=bool(config.get("completed", True)),
            config=tuple(
                ConfigVar(str(v["key"]), str(v.get("type") or ""), str(v.get("value") or ""))
                for v in config.get("vars") or ()
            ),
            id=str(data.get("id") or ""),
        )

    @property
    def missing(self) -> tuple[str, ...]:
        """The configuration variables that still have no value (KRE will not start it)."""
        return tuple(v.key for v in self.config if not v.is_set)
