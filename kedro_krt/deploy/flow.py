"""From a .krt to a version on KRE: check, sign in, upload, wait, configure, start, publish.

The order is the point. Everything that can be known before a byte leaves the machine is
checked first: the .krt against KRE's rules and ours (an invalid one is never uploaded), the
config names against its krt.yml. Then, before the upload, that the runtime exists and that
no version of the same name is in it (KRE would refuse the upload; we say how to rename).
KRE creates a version asynchronously (CREATING, then CREATED or ERROR, with the errors it
found), and starts it the same way (STARTING, then STARTED); publishing is immediate. Each
wait polls ``version(name, runtimeId)`` and gives up after ``Target.wait`` seconds.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedro_krt.deploy import operations as ops
from kedro_krt.deploy.addresses import admin_ui_base, entrypoint_address, version_page
from kedro_krt.deploy.client import AdminClient
from kedro_krt.deploy.errors import DeployError, KreRefused, VersionFailed
from kedro_krt.deploy.settings import Target, cleartext_warning
from kedro_krt.formats.images import EXAMPLE_REGISTRY, ImageName, LocalImage, local_images
from kedro_krt.formats.krt_formats import AnyManifest
from kedro_krt.formats.manifest_base import MAX_NAME_LENGTH, is_valid_name
from kedro_krt.formats.validate import format_report, validate_path

log = logging.getLogger(__name__)

DEFAULT_COMMENT = "deployed with kedro-krt"
#: First pause between two polls of a version's status, and the longest (seconds).
POLL_INTERVAL = 1.0
MAX_POLL_INTERVAL = 5.0


class Reporter:
    """What a deployment tells its user. The CLI shows it; by default nothing is shown."""

    def step(self, text: str) -> None:
        """A step begins (signing in, uploading, starting...)."""

    def warn(self, text: str) -> None:
        """Something worth a look that does not stop the deployment (a retry, a warning)."""

    def waiting(self, version: str, status: str, goal: str, elapsed: float) -> None:
        """The version is still ``status`` after ``elapsed`` seconds of waiting for ``goal``."""

    def waited(self) -> None:
        """A wait is over (whatever its outcome)."""


@dataclass(frozen=True)
class DeployOptions:
    """What to do with the version once uploaded.

    Attributes:
        config: values of the version's config variables (never shown).
        start: start the version once created (and configured).
        publish: publish it once started (implies ``start``).
        comment: the comment KRE records with start and publish.
        from_project: the .krt is packaged from a project, so ``--version`` renames it.
        allow_local_image: deploy images named without a registry host as they are
            (``--allow-local-image``); else they are refused before anything is sent.
        warned: the validator's warnings were shown already (the .krt was packaged just
            now, and package showed them): not shown again.
        poll_interval: first pause between two polls of the version's status, in seconds
            (default: POLL_INTERVAL).
        max_poll_interval: longest pause between two polls (default: MAX_POLL_INTERVAL).
    """

    config: Mapping[str, str] = field(default_factory=dict, repr=False)
    start: bool = False
    publish: bool = False
    comment: str = ""
    from_project: bool = False
    allow_local_image: bool = False
    warned: bool = False
    poll_interval: float | None = None
    max_poll_interval: float | None = None


@dataclass(frozen=True)
class DeployResult:
    """Where the version is and what it still needs.

    Attributes:
        version: its name.
        runtime: the runtime's id.
        status: its last status (CREATED, STARTED or PUBLISHED).
        configured: config variables set by this deployment.
        kept: config variables whose value KRE took from an earlier version of the runtime.
        missing: config variables that still have no value (KRE will not start it).
        page: the version's page in the admin UI.
        entrypoint: ``host:port`` of the runtime's entrypoint, if known.
        warnings: the validator's warnings about the .krt.
    """

    version: str
    runtime: str
    status: str
    configured: tuple[str, ...]
    kept: tuple[str, ...]
    missing: tuple[str, ...]
    page: str
    entrypoint: str | None
    warnings: tuple[str, ...] = ()


def check_krt(krt: Path, kre: str | None = None) -> tuple[AnyManifest, tuple[str, ...]]:
    """The .krt's manifest (KRT v1 or v2) and the validator's warnings; refuses what KRE would
    refuse (KRE of version ``kre`` when given, see ``kedro-krt validate --kre``)."""
    if krt.is_dir():
        raise DeployError(
            f"{krt} is a folder: deploy uploads a .krt archive. Package it with `kedro krt "
            "package`, or archive the folder (tar -czf x.krt -C <folder> krt.yml ...)"
        )
    if not krt.is_file():
        raise DeployError(f"{krt}: no such file (give the .krt to upload)")
    report = validate_path(krt, kre=kre)
    manifest = report.checked
    if not report.ok or manifest is None:
        raise DeployError(
            f"{krt} is not uploaded: KRE would refuse it, or fail to run it.\n"
            + format_report(report)
        )
    # "location: message [rule]": the reporter says it is a warning.
    return manifest, tuple(f"{w.location}: {w.message} [{w.rule}]" for w in report.warnings)


def refuse_local_images(version: str, images: Collection[LocalImage]) -> None:
    """Refuse images a KRE cluster could not pull (no registry host; see
    :func:`kedro_krt.formats.images.local_images`), before anything is packaged or sent.

    Raises:
        DeployError: naming each image, what to set and the flag that deploys it anyway.
    """
    if not images:
        return
    lines = []
    for found in images:
        hub = ImageName.parse(found.image).hub_name()
        lines.append(
            f'  {found.image} ({found.used_by}; {found.setting} in conf/<env>/krt.yml): the '
            f'cluster would look for "{hub}"'
        )
    example = f"{EXAMPLE_REGISTRY}/{version or 'my-version'}-runtime:0.1.0"
    raise DeployError(
        f"version '{version}' names image(s) without a registry host, which KRE's cluster "
        "would pull from Docker Hub, where they are not: its pods would never start.\n"
        + "\n".join(lines)
        + "\nBuild the image (kedro krt package prints how), push it to the registry your KRE "
        "pulls from, and set that name in conf/<env>/krt.yml, e.g. images.runtime: "
        f"{example} (a hand-written KRT: nodes[].image in its krt.yml). If the cluster has "
        "the image under this name already, deploy with --allow-local-image."
    )


def manifest_local_images(manifest: AnyManifest) -> list[LocalImage]:
    """The images of a checked manifest (v1 or v2) named without a registry host."""
    return local_images(manifest.entrypoint, list(enumerate(manifest.nodes)))


def runtime_versions(client: AdminClient, target: Target) -> tuple[dict[str, Any], dict[str, str]]:
    """The runtime and {version name: status} of its versions; an unknown runtime is KRE's
    message with how to find the id."""
    try:
        data = client.graphql("KedroKrtRuntime", ops.RUNTIME, {"runtimeId": target.runtime})
    except KreRefused as exc:
        raise KreRefused(
            exc.operation,
            exc.errors,
            f"Check --runtime '{target.runtime}': the id of a runtime of this KRE, "
            "as in the admin UI's address /runtimes/ID.",
        ) from None
    assert data is not None
    versions = {str(v["name"]): str(v["status"]) for v in data.get("versions") or ()}
    return dict(data.get("runtime") or {}), versions


def _taken(name: str, versions: Mapping[str, str], target: Target, from_project: bool) -> None:
    if name in versions:
        raise DeployError(
            f"version '{name}' already exists in runtime '{target.runtime}' (status "
            f"{versions[name]}), and a version name is unique in a runtime: nothing was "
            f"uploaded. {_rename_hint(name, versions, from_project)}"
        )


def check_before_packaging(
    target: Target,
    token: str,
    name: str,
    reporter: Reporter | None = None,
    *,
    client_factory: Callable[..., AdminClient] = AdminClient,
) -> None:
    """What KRE can tell before a project is packaged: the token works, the runtime exists
    and no version called ``name`` is in it (packaging first would only lose the time).

    Raises:
        DeployError: the name is taken, with a free one to use instead.
        KreRefused: KRE refused the sign-in or does not know the runtime.
    """
    reporter = reporter or Reporter()
    with client_factory(target.api, ca_file=target.ca_file, on_retry=reporter.warn) as client:
        reporter.step(
            f"checking that runtime '{target.runtime}' has no version '{name}' yet "
            f"(signing in with the API token in ${target.token_env})"
        )
        client.sign_in(token, f"${target.token_env}")
        _taken(name, runtime_versions(client, target)[1], target, from_project=True)


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"


def free_name(name: str, taken: Collection[str]) -> str | None:
    """A valid version name close to ``name`` that is not taken (``x-v3`` -> ``x-v4``)."""
    match = re.fullmatch(r"(.*?)(\d+)", name)
    stem, number = (match.group(1), int(match.group(2))) if match else (f"{name}-", 1)
    for n in range(number + 1, number + 1000):
        suffix = str(n)
        candidate = stem[: MAX_NAME_LENGTH - len(suffix)] + suffix
        if candidate not in taken and is_valid_name(candidate):
            return candidate
    return None


def _rename_hint(name: str, taken: Collection[str], from_project: bool) -> str:
    new = free_name(name, taken) or "NEW-NAME"
    if from_project:
        return f"Deploy under a new name: add --version {new} (the project is packaged under it)."
    return (
        "The name is `version:` in the .krt's krt.yml: package the project again under a new "
        f"name (kedro krt package --version {new}), or change `version:` in krt.yml and "
        "archive the KRT again."
    )


def check_config_names(
    version: str, declared: Collection[str], given: Collection[str], *, where: str = ""
) -> None:
    """Refuse ``--config`` names the version does not declare (KRE refuses unknown keys).

    ``where`` says where the declared names come from (default: the .krt's krt.yml).
    """
    unknown = [name for name in given if name not in declared]
    if unknown:
        listed = ", ".join(declared) if declared else "none"
        raise DeployError(
            f"--config {', '.join(unknown)}: version '{version}' has no such config "
            f"variable, and KRE refuses unknown keys. "
            + (where or f"Its krt.yml declares: {listed}")
        )


def _check_config_names(manifest: AnyManifest, given: Collection[str]) -> None:
    declared = (*manifest.config.variables, *manifest.config.files)
    check_config_names(manifest.version, declared, given)


class _Deployment:
    """One deployment's state: the client, the names, the reporter."""

    def __init__(
        self,
        client: AdminClient,
        target: Target,
        options: DeployOptions,
        reporter: Reporter,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.client = client
        self.target = target
        self.options = options
        self.reporter = reporter
        self.clock = clock
        self.sleep = sleep
        self.ui = admin_ui_base(target.api, target.ui)

    def page(self, version: str, tab: str = "status") -> str:
        return version_page(self.ui, self.target.runtime, version, tab)

    def runtime(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The runtime and {version name: status} of its versions."""
        return runtime_versions(self.client, self.target)

    def state(self, name: str) -> ops.VersionState:
        data = self.client.graphql(
            "KedroKrtVersion", ops.VERSION, {"name": name, "runtimeId": self.target.runtime}
        )
        assert data is not None
        return ops.VersionState.from_graphql(data["version"])

    def exists(self, name: str) -> bool:
        return name in self.runtime()[1]

    def wait(self, name: str, goal: str, passing: Collection[str]) -> ops.VersionState:
        """Poll until the version is ``goal`` or ERROR; ``passing`` are the states on the way."""
        started = self.clock()
        interval = self.options.poll_interval or POLL_INTERVAL
        longest = self.options.max_poll_interval or MAX_POLL_INTERVAL
        try:
            while True:
                state = self.state(name)
                elapsed = self.clock() - started
                if state.status in (goal, "ERROR"):
                    return state
                if state.status not in passing:
                    raise DeployError(
                        f"version '{name}' went to {state.status} while kedro-krt waited for "
                        f"{goal}: someone may be changing it. See {self.page(name)}"
                    )
                self.reporter.waiting(name, state.status, goal, elapsed)
                if elapsed >= self.target.wait:
                    raise DeployError(
                        f"version '{name}' is still {state.status} after {self.target.wait:g} s "
                        f"(waiting for {goal}); KRE goes on without us. Follow it at "
                        f"{self.page(name)}, or deploy with a larger --wait"
                    )
                self.sleep(min(interval, max(self.target.wait - elapsed, 0.0)))
                interval = min(interval * 1.5, longest)
        finally:
            self.reporter.waited()

    def status_in(self, name: str, statuses: Collection[str]) -> bool:
        try:
            return self.state(name).status in statuses
        except KreRefused:
            return False


def deploy(
    krt: Path,
    target: Target,
    token: str,
    options: DeployOptions | None = None,
    reporter: Reporter | None = None,
    *,
    client_factory: Callable[..., AdminClient] = AdminClient,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DeployResult:
    """Upload ``krt`` to ``target``'s runtime and take it as far as ``options`` say.

    Raises:
        DeployError: something to fix before or after the upload; the message says what.
        KreRefused: KRE refused a call; its errors are kept as KRE wrote them.
        VersionFailed: KRE set the version to ERROR; its errors are kept as KRE wrote them.
    """
    options = options or DeployOptions()
    reporter = reporter or Reporter()
    manifest, warnings = check_krt(krt, target.kre)
    name = manifest.version
    _check_config_names(manifest, options.config)
    if not options.allow_local_image:
        refuse_local_images(name, manifest_local_images(manifest))
    start = options.start or options.publish
    comment = options.comment or DEFAULT_COMMENT
    for warning in () if options.warned else warnings:
        reporter.warn(warning)
    cleartext = cleartext_warning(target.api)
    if cleartext:
        reporter.warn(cleartext)

    with client_factory(target.api, ca_file=target.ca_file, on_retry=reporter.warn) as client:
        run = _Deployment(client, target, options, reporter, clock, sleep)
        reporter.step(f"signing in to {target.api} with the API token in ${target.token_env}")
        client.sign_in(token, f"${target.token_env}")
        runtime, versions = run.runtime()
        _taken(name, versions, target, options.from_project)
        reporter.step(
            f"uploading {krt.name} ({_size(krt.stat().st_size)}) as version '{name}' to runtime "
            f"'{target.runtime}'"
        )
        try:
            client.upload(
                "KedroKrtCreateVersion",
                ops.CREATE_VERSION,
                {"input": {"file": None, "runtimeId": target.runtime}},
                krt,
                went_through=lambda: run.exists(name),
            )
        except KreRefused as exc:
            duplicated = any("duplicated" in e for e in exc.errors)
            hint = _rename_hint(name, versions, options.from_project) if duplicated else ""
            raise KreRefused(exc.operation, exc.errors, hint) from None

        state = run.wait(name, "CREATED", passing={"CREATING"})
        if state.status == "ERROR":
            raise VersionFailed(name, target.runtime, state.errors, run.page(name))

        configured = tuple(options.config)
        if options.config:
            reporter.step(f"setting config variable(s) {', '.join(configured)}")
            variables = [{"key": k, "value": v} for k, v in options.config.items()]
            data = client.graphql(
                "KedroKrtConfigure",
                ops.UPDATE_CONFIGURATION,
                {
                    "input": {
                        "versionName": name,
                        "runtimeId": target.runtime,
                        "configurationVariables": variables,
                    }
                },
            )
            assert data is not None
            state = ops.VersionState.from_graphql(data["updateVersionConfiguration"])
        missing = state.missing
        if not state.config and not state.config_completed:
            # KRE hides the values from users who may not edit: fall back on krt.yml.
            declared = (*manifest.config.variables, *manifest.config.files)
            missing = tuple(k for k in declared if k not in options.config)
        kept = tuple(v.key for v in state.config if v.is_set and v.key not in options.config)

        if start and missing:
            raise DeployError(
                f"version '{name}' is created, but KRE starts a version only once every config "
                f"variable has a value, and these have none: {', '.join(missing)}. Set them at "
                f"{run.page(name, 'configuration')} and start it there, or next time pass "
                "--config NAME=VALUE (or --config NAME to take the value from the environment)"
            )
        if start:
            reporter.step(f"starting version '{name}'")
            client.graphql(
                "KedroKrtStart",
                ops.START_VERSION,
                {"input": {"versionName": name, "comment": comment, "runtimeId": target.runtime}},
                went_through=lambda: run.status_in(name, {"STARTING", "STARTED", "PUBLISHED"}),
            )
            state = run.wait(name, "STARTED", passing={"CREATED", "STOPPED", "STARTING"})
            if state.status == "ERROR":
                raise VersionFailed(name, target.runtime, state.errors, run.page(name))
        if options.publish:
            reporter.step(f"publishing version '{name}'")
            client.graphql(
                "KedroKrtPublish",
                ops.PUBLISH_VERSION,
                {"input": {"versionName": name, "comment": comment, "runtimeId": target.runtime}},
                went_through=lambda: run.status_in(name, {"PUBLISHED"}),
            )
            state = run.wait(name, "PUBLISHED", passing={"STARTED"})
            if state.status == "ERROR":
                raise VersionFailed(name, target.runtime, state.errors, run.page(name))

    return DeployResult(
        version=name,
        runtime=target.runtime,
        status=state.status,
        configured=configured,
        kept=kept,
        missing=missing,
        page=run.page(name),
        entrypoint=entrypoint_address(
            target.api, target.runtime, str(runtime.get("entrypointAddress") or "")
        ),
        warnings=warnings,
    )
