"""Plan -> the text of every generated file: krt.yml, the protos (checked by real protoc),
main.py, docs/README.md, requirements.txt and the Dockerfile.

:mod:`~kedro_krt.emit.files` writes each file, :mod:`~kedro_krt.emit.proto` the proto3 text,
:mod:`~kedro_krt.emit.protoc` runs protoc (grpcio-tools), :mod:`~kedro_krt.emit.examples` the
example requests. ``package`` puts them in a .krt; nothing here writes to disk.
"""
