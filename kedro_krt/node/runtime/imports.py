"""Import a Python file as a named module: the one step the three importers of kedro-krt share.

Each caller decides what ``sys.path`` holds around it, and they genuinely differ:

* :func:`kedro_krt.emit.protoc.import_generated` (generated ``*_pb2.py`` in tests and tools):
  the folder goes first on ``sys.path`` while the module executes, then leaves;
* :func:`kedro_krt.serve.loader.import_node_module` (a node's ``main.py``, as kre-py does): the
  folder is appended and stays; other nodes' folders are off ``sys.path`` while it imports, and
  what it imported from its folder leaves ``sys.modules``, so same-named modules of two nodes
  stay apart;
* ``kedro_krt.node.runtime.node_base.import_pb2`` does not use this: it imports the node's
  ``*_pb2`` by name, so that it gets the very module objects the node's siblings import by bare
  name (a second copy from the file would be other classes for the same messages).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def exec_module_file(path: Path, name: str) -> ModuleType:
    """Execute the file at ``path`` as module ``name``, registered in ``sys.modules``.

    Registered before it executes (as a normal import does) and taken out again if it raises.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
