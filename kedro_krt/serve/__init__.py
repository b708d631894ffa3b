"""serve: a local KRE that serves any KRT (v1 or v2) with Python nodes over gRPC.

``run_server`` is the entry point (``kedro krt serve``, ``kedro-krt serve``);
:func:`kedro_krt.serve.client.call` calls a served rpc with JSON.
"""

from kedro_krt.serve.errors import InvalidRequest, ServeError
from kedro_krt.serve.server import run_server

__all__ = ["InvalidRequest", "ServeError", "run_server"]
