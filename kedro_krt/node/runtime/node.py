"""Where a generated ``main.py`` of a KRT v1 node imports its runtime from
(``from kedro_krt.node.runtime.node import KrtNode``, the import of every .krt written so far):
the class lives in :mod:`kedro_krt.node.runtime.node_v1`."""

from kedro_krt.node.runtime.node_v1 import KrtNode

__all__ = ["KrtNode"]
