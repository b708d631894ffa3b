"""What stops a deployment, said so that the user knows what to change."""

from __future__ import annotations

from collections.abc import Sequence

from kedro_krt.node.errors import KrtError


class DeployError(KrtError, ValueError):
    """A deployment cannot go on: the message says what was found and what to do."""


class KreRefused(DeployError):
    """KRE's admin API answered a GraphQL call with errors; they are kept as KRE wrote them.

    Attributes:
        operation: the GraphQL operation KRE refused (its name in our documents).
        errors: KRE's messages, each followed by its ``details`` when KRE gives some.
    """

    def __init__(self, operation: str, errors: Sequence[str], hint: str = "") -> None:
        from kedro_krt.deploy.operations import describe

        self.operation = operation
        self.errors = tuple(errors)
        lines = [f"KRE refused {describe(operation)}:", *self.errors]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


class VersionFailed(DeployError):
    """The version reached status ERROR; ``errors`` are the version's errors as KRE reports them."""

    def __init__(self, version: str, runtime: str, errors: Sequence[str], where: str) -> None:
        self.version = version
        self.errors = tuple(errors)
        lines = [f"version '{version}' is in status ERROR in runtime '{runtime}'. KRE's errors:"]
        lines += list(self.errors) or ["(KRE gave no message)"]
        lines.append(f"See the version in the admin UI: {where}")
        super().__init__("\n".join(lines))
