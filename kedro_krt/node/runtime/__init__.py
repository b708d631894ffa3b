"""What runs inside a KRT node: the engine, the node entry points, and an in-process session."""

from kedro_krt.node.runtime.errors import InvalidRequest, RuntimeSetupError

__all__ = ["InvalidRequest", "KrtSession", "RuntimeSetupError"]


def __getattr__(name: str) -> object:
    # Lazy: importing the runtime package must not import Kedro (the local server imports it).
    if name == "KrtSession":
        from kedro_krt.node.runtime.session import KrtSession

        return KrtSession
    raise AttributeError(name)
