"""What the command line treats as a user's mistake (one line, exit 1) and Kedro's noise it hides.

Shared by every click command (kedro_krt.cli and kedro_krt.handwritten.command), so a new error
class is a user error everywhere at once. Our own bugs are not listed: they keep their traceback.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["kedro_noise_hidden", "user_errors"]


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions whose message is all a user needs (imported lazily: the CLI loads fast)."""
    from kedro_krt.compiler.config import ConfigError
    from kedro_krt.deploy.errors import DeployError
    from kedro_krt.emit.protoc import ProtoCompileError
    from kedro_krt.formats.archive import KrtArchiveError
    from kedro_krt.handwritten.errors import BuildError
    from kedro_krt.node.analysis import CompileError
    from kedro_krt.node.runtime.errors import RuntimeSetupError
    from kedro_krt.node.schema.types import SchemaError
    from kedro_krt.package import PackageError
    from kedro_krt.serve.errors import ServeError

    return (
        BuildError,
        CompileError,
        ConfigError,
        DeployError,
        KrtArchiveError,
        PackageError,
        ProtoCompileError,
        SchemaError,
        ServeError,
        RuntimeSetupError,
        FileNotFoundError,
    )


@contextmanager
def kedro_noise_hidden() -> Iterator[None]:
    """Kedro's deprecations, dotted-dataset-name and resolver warnings hidden while a command
    runs; the process's warning filters are restored after."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*dataset names contain '.'.*")
        warnings.filterwarnings("ignore", message=".*register_new_resolver.*")
        yield
