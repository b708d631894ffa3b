"""Where a deployed version shows: its page in KRE's admin UI, and its runtime's entrypoint.

KRE's conventions (konstellation-io/kre @ kre-7.0.0 and kre-8.0.0):

* The admin UI routes a version at ``/runtimes/<runtimeId>/versions/<versionName>/status``
  (engine/admin-ui/src/Constants/routes.ts). KRE's Helm chart serves the API at
  ``api.<domain>`` and the UI at ``admin.<domain>`` (helm/kre/values.yaml: ``api.kre.local``,
  ``admin.kre.local``), so the UI's address is the API's with its first host label ``api``
  changed to ``admin``, unless it is given.
* The runtime's entrypoint is the Ingress that k8s-manager creates for it, host
  ``<runtimeId>-entrypoint.<baseDomainName>`` (engine/k8s-manager/kubernetes/version/
  ingress.go), routed to the runtime's published version. The admin API reports
  ``entrypoint.<baseDomainName>`` as ``Runtime.entrypointAddress``, which gives the base
  domain; without it the base domain is the API host less its first label. The port is a
  guess, as KRE's Ingress TLS is a setting of its own: 443 when the API is reached over HTTPS
  (a cluster that serves its API with TLS is taken to serve its entrypoints so), else 80.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_ENTRYPOINT_PREFIX = "entrypoint."


def admin_ui_base(api: str, ui: str = "") -> str | None:
    """The admin UI's base URL: ``ui`` when given, else derived from the API's address."""
    if ui:
        return ui.rstrip("/")
    parts = urlsplit(api)
    host = parts.hostname or ""
    if not host.startswith("api."):
        return None
    netloc = parts.netloc.replace(host, "admin." + host[len("api.") :], 1)
    return urlunsplit((parts.scheme, netloc, "", "", ""))


def version_page(ui_base: str | None, runtime: str, version: str, tab: str = "status") -> str:
    """A tab of the version's page in the admin UI (``status``, ``configuration``); a path
    alone when the UI's address is unknown."""
    path = f"/runtimes/{runtime}/versions/{version}/{tab}"
    if ui_base is None:
        return f"{path} in KRE's admin UI (give its address with --ui to see it whole)"
    return ui_base + path


def entrypoint_address(api: str, runtime: str, reported: str = "") -> str | None:
    """``host:port`` of the runtime's gRPC entrypoint, or None when no base domain is known.

    Args:
        api: the admin API's URL.
        runtime: the runtime's id.
        reported: ``Runtime.entrypointAddress`` as KRE's admin API answers it.
    """
    parts = urlsplit(api)
    port = 443 if parts.scheme == "https" else 80
    if reported.startswith(_ENTRYPOINT_PREFIX) and len(reported) > len(_ENTRYPOINT_PREFIX):
        # The base domain KRE reports may carry the entrypoints' port (``x.org:443``): it is
        # the port then, not a part of the host.
        given = urlsplit("//" + reported[len(_ENTRYPOINT_PREFIX) :])
        try:
            port = given.port or port
        except ValueError:  # not a number after the colon: keep the text as the host
            return f"{runtime}-entrypoint.{reported[len(_ENTRYPOINT_PREFIX):]}:{port}"
        base = given.hostname or ""
    else:
        host = parts.hostname or ""
        labels = host.split(".")
        if len(labels) < 3 or all(label.isdigit() for label in labels):
            return None
        base = ".".join(labels[1:])
    return f"{runtime}-entrypoint.{base}:{port}"
