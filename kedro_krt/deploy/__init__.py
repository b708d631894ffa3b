"""KRE's admin API client: sign in, upload a .krt, configure, start and publish a version.

``krt/`` knows the format, this package knows KRE's admin API (konstellation-io/kre @
kre-7.0.0 and kre-8.0.0, engine/admin-api), and ``cli.py`` only parses and prints. The
modules: ``settings`` (where to and with what), ``operations`` (the GraphQL documents),
``client`` (HTTP, sign-in, retries, the multipart upload), ``flow`` (the steps, in order),
``addresses`` (the admin UI's page and the entrypoint).

httpx, the one dependency beyond kedro-krt's own, comes with the ``deploy`` extra; it is
imported by ``client`` and ``flow`` only, so that this package's errors and settings load
without it.
"""

from kedro_krt.deploy.errors import DeployError, KreRefused, VersionFailed

__all__ = ["DeployError", "KreRefused", "VersionFailed"]
