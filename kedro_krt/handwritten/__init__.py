"""`kedro-krt build DIR`: a hand-written KRT (krt.yml, protos, `src/<node>/...`) whose nodes may
come from Kedro projects, packaged as kli packages it, with kedro-krt's checks and runtime.

    from kedro_krt.handwritten import build_krt

    result = build_krt(Path("examples/handwritten_with_kedro"))   # dist/<version>.krt
    print(result.report)
"""

from kedro_krt.handwritten.assemble import BuildResult, build_krt
from kedro_krt.handwritten.config import BUILD_FILE, BuildConfig, KedroSource, load_build_config
from kedro_krt.handwritten.errors import BuildError
from kedro_krt.handwritten.ignore import IGNORE_FILE, KrtIgnore

__all__ = [
    "BUILD_FILE",
    "IGNORE_FILE",
    "BuildConfig",
    "BuildError",
    "BuildResult",
    "KedroSource",
    "KrtIgnore",
    "build_krt",
    "load_build_config",
]
