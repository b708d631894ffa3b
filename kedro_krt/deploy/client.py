"""A small client of KRE's admin API: sign-in with an API token, GraphQL calls, the upload.

What KRE's admin API is (konstellation-io/kre @ kre-7.0.0 and kre-8.0.0, engine/admin-api:
delivery/http/server.go, delivery/http/controller/auth.go, adapter/gql/http_handler.go):

* ``POST /api/v1/auth/token/signin`` with ``{"apiToken": "..."}`` answers
  ``{"access_token": "<JWT>"}``, or 401 ``{"code": "unauthorized", ...}`` for a bad token;
* ``/graphql`` (gqlgen) takes the JWT as ``Authorization: Bearer <JWT>`` (else 401), JSON
  requests and GraphQL multipart requests (uploads up to 500 MiB), and answers GraphQL
  errors with HTTP 200 (422 for a document that does not validate).

httpx does the HTTP and builds the multipart body. HTTPS verifies against the system's trust
store (Python's default context, not a bundled CA list), plus a private CA when given. Transient
failures (connection refused or reset, timeouts, HTTP 502/503/504) are retried with
exponential backoff; a request that KRE answered, with errors or not, never is. Before a
request that changes something is sent again, a check asks KRE whether the first one went
through, so an upload is never made twice.

Neither the API token nor the JWT is ever logged, printed or put in an error message.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from kedro_krt.deploy.errors import DeployError, KreRefused
from kedro_krt.deploy.operations import UPLOAD_PATH, describe

log = logging.getLogger(__name__)

SIGNIN_PATH = "/api/v1/auth/token/signin"
GRAPHQL_PATH = "/graphql"
#: Statuses a proxy or an overloaded server answers before KRE handled the request.
TRANSIENT_STATUSES = frozenset({502, 503, 504})
#: Longest wait that a Retry-After header may ask for.
MAX_RETRY_AFTER = 30.0
#: How many times a transient failure is retried, and the first wait (it doubles each time).
RETRIES = 4
RETRY_BACKOFF = 0.5

Retried = Callable[[], bool]


def ssl_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """The system's trust store (OpenSSL's default paths, ``SSL_CERT_FILE`` honoured), plus
    the certificates of ``ca_file`` when given."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise DeployError(
                f"--ca-file {ca_file}: cannot load it as PEM certificates ({exc}); give the "
                "PEM file of the CA that signed KRE's certificate"
            ) from None
    return context


def _is_tls_failure(exc: BaseException) -> bool:
    text = f"{exc} {exc.__cause__ or ''} {exc.__context__ or ''}"
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _kre_message(response: httpx.Response) -> str:
    """KRE's own words for an HTTP error: echo's ``{"code", "message"}``, else the status."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, Mapping):
        code, message = body.get("code"), body.get("message")
        if code or message:
            return f"HTTP {response.status_code} {code or ''}: {message or ''}".replace(" :", ":")
    return f"HTTP {response.status_code}"


def _error_text(error: Any) -> str:
    """One GraphQL error as KRE wrote it: its message, then its ``details`` if any.

    KRE 7 puts a krt.yml validation report in ``extensions.details`` as one string; KRE 8
    as a list of strings. Both are kept word for word.
    """
    if not isinstance(error, Mapping):
        return str(error)
    text = str(error.get("message", error))
    details = (error.get("extensions") or {}).get("details")
    if isinstance(details, str) and details:
        text += "\n" + details
    elif isinstance(details, list):
        text += "".join(f"\n{d}" for d in details)
    return text


class AdminClient:
    """A session with KRE's admin API. Use as a context manager; sign in before any call.

    Args:
        api: the admin API's base URL (``https://api.kre.example.com``).
        ca_file: a private CA's PEM file, trusted besides the system's trust store.
        timeout: seconds for one request (connect: at most 10 s).
        upload_timeout: seconds for the upload request.
        retries: how many times a transiently failing request is sent again (RETRIES).
        backoff: the first wait before a retry, doubled at each try (RETRY_BACKOFF).
        on_retry: told of each retry (a line to show the user).
        transport: an httpx transport (tests).
    """

    def __init__(
        self,
        api: str,
        *,
        ca_file: Path | None = None,
        timeout: float = 30.0,
        upload_timeout: float = 900.0,
        retries: int | None = None,
        backoff: float | None = None,
        on_retry: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        from kedro_krt import __version__

        self.api = api.rstrip("/")
        self._retries = RETRIES if retries is None else retries
        self._backoff = RETRY_BACKOFF if backoff is None else backoff
        self._on_retry = on_retry or (lambda _line: None)
        self._sleep = sleep
        self._upload_timeout = httpx.Timeout(upload_timeout, connect=min(10.0, timeout))
        self._http = httpx.Client(
            base_url=self.api,
            verify=ssl_context(ca_file),
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            headers={"User-Agent": f"kedro-krt/{__version__}"},
            follow_redirects=False,
            transport=transport,
        )
        self._signed_in = False

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- HTTP with retries ------------------------------------------------------------------

    def _send(
        self,
        path: str,
        build: Callable[[], dict[str, Any]],
        what: str,
        went_through: Retried | None = None,
    ) -> httpx.Response | None:
        """POST ``path`` with the arguments ``build()`` makes (anew at each try, so that a
        file is read again from its start). Returns None when ``went_through`` says that a
        failed try had reached KRE after all."""
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = self._http.post(path, **build())
            except httpx.TransportError as exc:
                if _is_tls_failure(exc):
                    raise DeployError(
                        f"cannot verify the TLS certificate of {self.api}: {exc}. If KRE's "
                        "certificate comes from a private CA, pass its PEM file with "
                        "--ca-file (or deploy.ca_file in krt.yml)"
                    ) from None
                failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.is_redirect:
                    where = response.headers.get("Location", "")
                    raise DeployError(
                        f"{what}: {self.api}{path} answered a redirect (HTTP "
                        f"{response.status_code}) to {where}: give the admin API's final "
                        "address as --api"
                    )
                if response.status_code not in TRANSIENT_STATUSES:
                    return response
                failure = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
            if attempt > self._retries:
                raise DeployError(
                    f"{what}: KRE's admin API at {self.api} still fails after {attempt} tries "
                    f"({failure}). Check that KRE is up and that --api is its admin API's "
                    "address, then try again"
                )
            delay = retry_after if retry_after is not None else self._backoff * 2 ** (attempt - 1)
            log.info("%s: %s; retrying in %.1f s", what, failure, delay)
            self._on_retry(f"{what}: {failure}; trying again in {delay:.1f} s")
            self._sleep(delay)
            if went_through is not None and went_through():
                log.info("%s: the failed request had reached KRE", what)
                return None

    # --- sign-in ----------------------------------------------------------------------------

    def sign_in(self, token: str, source: str) -> None:
        """Exchange the API token for a JWT, sent as a Bearer token on every later call.

        Args:
            token: KRE's API token (from the environment).
            source: where the token came from, for messages (``$KRE_API_TOKEN``).
        """
        response = self._send(SIGNIN_PATH, lambda: {"json": {"apiToken": token}}, "sign-in")
        assert response is not None
        if response.status_code in (401, 403):
            raise DeployError(
                f"KRE refused the API token in {source} ({_kre_message(response)}). Generate "
                "a new token in KRE's admin UI (your profile, API tokens) and export it in "
                f"{source.lstrip('$')}"
            )
        if response.status_code != 200:
            raise DeployError(
                f"sign-in at {self.api}{SIGNIN_PATH} answered {_kre_message(response)}: check "
                "--api, the address of KRE's admin API (kli's `server add` takes the same)"
            )
        try:
            jwt = response.json().get("access_token")
        except (ValueError, AttributeError):
            jwt = None
        if not isinstance(jwt, str) or not jwt:
            raise DeployError(
                f"sign-in at {self.api}{SIGNIN_PATH} did not answer an access_token: is "
                "--api the address of KRE's admin API?"
            )
        self._http.headers["Authorization"] = f"Bearer {jwt}"
        self._signed_in = True

    # --- GraphQL ------------------------------------------------------------------------------

    def graphql(
        self,
        operation: str,
        document: str,
        variables: Mapping[str, Any],
        *,
        went_through: Retried | None = None,
    ) -> dict[str, Any] | None:
        """Run one GraphQL operation; its ``data``, or None if a retried try had gone through.

        Raises:
            KreRefused: KRE answered with GraphQL errors (never retried).
        """
        body = {"operationName": operation, "query": document, "variables": dict(variables)}
        response = self._send(
            GRAPHQL_PATH, lambda: {"json": body}, describe(operation), went_through
        )
        return None if response is None else self._answer(operation, response)

    def upload(
        self,
        operation: str,
        document: str,
        variables: Mapping[str, Any],
        file: Path,
        *,
        went_through: Retried | None = None,
    ) -> dict[str, Any] | None:
        """Run a mutation that takes a file, as a GraphQL multipart request.

        The ``operations`` part holds the document with the file variable null, the ``map``
        part says where the file goes (``{"0": ["variables.input.file"]}``), the file part
        ``0`` follows (github.com/jaydenseric/graphql-multipart-request-spec).
        """
        operations = json.dumps(
            {"operationName": operation, "query": document, "variables": dict(variables)}
        )
        mapping = json.dumps({"0": [UPLOAD_PATH]})

        def build() -> dict[str, Any]:
            handle = file.open("rb")
            opened.append(handle)
            return {
                "data": {"operations": operations, "map": mapping},
                "files": {"0": (file.name, handle, "application/gzip")},
                "timeout": self._upload_timeout,
            }

        opened: list[Any] = []
        try:
            response = self._send(GRAPHQL_PATH, build, describe(operation), went_through)
        finally:
            for handle in opened:
                handle.close()
        return None if response is None else self._answer(operation, response)

    def _answer(self, operation: str, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if status in (401, 403):
            raise DeployError(
                f"KRE refused the session for {describe(operation)} ({_kre_message(response)}), "
                "although the sign-in worked: the session may have been revoked; deploy again"
            )
        try:
            body = response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise DeployError(
                f"{describe(operation)}: {self.api}{GRAPHQL_PATH} answered HTTP {status} "
                f"({kind}), not a GraphQL response: is --api the address of KRE's admin API?"
            ) from None
        errors = body.get("errors") if isinstance(body, Mapping) else None
        if errors:
            raise KreRefused(operation, [_error_text(e) for e in errors])
        data = body.get("data") if isinstance(body, Mapping) else None
        if status != 200 or not isinstance(data, Mapping):
            raise DeployError(
                f"{describe(operation)}: KRE's admin API answered HTTP {status} without data "
                "or errors"
            )
        return dict(data)
