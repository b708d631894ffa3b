"""The node package: everything a .krt carries, and nothing else.

``package`` vendors this folder (with ``kedro_krt/__init__.py``) under ``lib/`` of every .krt:
the compiled plan (:mod:`~kedro_krt.node.plan`), the compilation rules the in-process session
shares with the compiler (:mod:`~kedro_krt.node.analysis`), the per-message codec
(:mod:`~kedro_krt.node.schema`), the node runtime that ``main.py`` hands ``init``/``handler`` to
(:mod:`~kedro_krt.node.runtime`) and the KRE node runner (:mod:`~kedro_krt.node.runner`).

It imports nothing of kedro_krt outside itself (tests/test_layers.py holds that): no click, no
grpc, no compiler, no validator.
"""
