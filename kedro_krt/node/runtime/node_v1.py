"""KRT v1's node runtime: what `src/<node>/main.py` hands to KRE's Python runner, `init(ctx)`
and `handler(ctx, data)`.

It keeps the kre-py contract: the file is imported as `worker` with its folder on `sys.path`
(so the generated `*_pb2` modules beside it import by name), `init` runs once, `handler` is async,
takes a `google.protobuf.any_pb2.Any` and returns a protobuf message for the next node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro_krt.node.plan import PARAMETERS_FIELD, PUBLIC_PROTO
from kedro_krt.node.runtime.errors import InvalidRequest
from kedro_krt.node.runtime.node_base import (
    KrtNodeBase,
    NodeSession,
    import_pb2,
    refuse_stray_fields,
    unknown_fields_in,
)
from kedro_krt.node.schema.codec import CodecError, MessageCodec, PresenceCheck, RowsCheck
from kedro_krt.node.schema.relay import FieldCopy, Relay, copyable

__all__ = ["KrtNode"]


class KrtNode(KrtNodeBase):
    """One KRT node compiled from Kedro nodes; build it at import, start it in `init`.

    `project` is the Kedro project's folder when it is not the KRT root (a KRT made by
    `kedro-krt build`, where projects live in folders of their own).
    """

    def __init__(self, folder: Path | str, project: Path | str | None = None) -> None:
        super().__init__(folder, project)
        # Import the generated classes now, while the runner has our folder on sys.path.
        in_mod = import_pb2(self.folder, self.plan.input_module)
        out_mod = import_pb2(self.folder, self.plan.output_module)
        self.input_cls = getattr(in_mod, self.plan.input.name)
        self.output_cls = getattr(out_mod, self.plan.output.name)
        self._setup_codecs()
        self._session: NodeSession | None = None

    def _setup_codecs(self) -> None:
        """Decode only what this node's Kedro nodes read; relay the rest as bytes.

        A field that arrives and leaves unchanged (request rows carried to a later node, the
        per-message parameters) is copied from the incoming message's bytes: no DataFrame is
        built for it and nothing is encoded again.
        """
        node = self.plan.node
        consumed = {d.name for d in self.plan.datasets if node.name in d.consumers}
        incoming = {f.original for f in self.plan.input.fields}
        relayed = [
            f
            for f in self.plan.output.fields
            if f.original in incoming and Relay.compatible(self.input_cls, self.output_cls, f.name)
        ]
        relayed_names = {f.original for f in relayed}
        decode = [
            f
            for f in self.plan.input.fields
            if f.original in consumed
            or (f.name == PARAMETERS_FIELD and node.parameters)
            or (f.original in node.writes and f.original not in relayed_names)
        ]
        encode = [f for f in self.plan.output.fields if f.original not in relayed_names]
        # A request table this node only passes on is not decoded here, and the messages
        # between nodes carry no presence: its required cells are checked where it enters.
        entry = self.input_cls.DESCRIPTOR.file.name == PUBLIC_PROTO
        decoded = {f.name for f in decode}
        passed_on = [f for f in self.plan.input.fields if f.name not in decoded]
        self._presence = PresenceCheck(self.input_cls, passed_on if entry else [])
        # A request table with required columns must have a row (compile's `required`).
        self._rows = RowsCheck(self.input_cls, self.plan.input.fields if entry else [])
        # Bytes of another message type are a client's (or a hand-written node's) mistake: in
        # a compiled KRT only the request can carry them. Between its nodes, the previous node
        # of this very KRT wrote the message (its type is checked by `Is` on every message), so
        # the unknown-field walk is not repeated there; a node of `kedro-krt build` (`project`
        # given) may follow a hand-written node, and keeps it.
        self._check_unknown = entry or self._project is not None
        self._decoder = MessageCodec(self.input_cls, decode)
        self._encoder = MessageCodec(self.output_cls, encode)
        self._relay = Relay(self.input_cls, self.output_cls, [f.name for f in relayed])
        self._outputs = tuple(f.original for f in encode if f.original != PARAMETERS_FIELD)
        self._encode_parameters = any(f.name == PARAMETERS_FIELD for f in encode)
        # A hand-written output message may have fields the plan does not fill: those the
        # input has too, with the same type, are passed on (a chain's context, the request).
        # A compiled KRT's messages hold only planned fields, so there is nothing to copy.
        planned = {f.name for f in self.plan.output.fields}
        carried = [
            fd.name
            for fd in self.output_cls.DESCRIPTOR.fields
            if fd.name not in planned and copyable(self.input_cls, self.output_cls, fd.name)
        ]
        self._carry = FieldCopy(self.input_cls, self.output_cls, carried)
        # A parameter read from a field of its own (kedro-krt build) keeps the project's value
        # when the field is unset (a field with presence: not set; else: decoded as None).
        fields = self.input_cls.DESCRIPTOR.fields_by_name
        self._field_parameters = tuple(
            (f.original, f.name, bool(fields[f.name].has_presence))
            for f in decode
            if f.original.startswith("params:")
        )

    def init(self, ctx: Any = None) -> None:
        """Boot the project from the KRT folder, load artifacts and parameters once."""
        self._session = NodeSession(self.project_root(ctx), self.plan, observed=self._outputs)
        if ctx is not None and hasattr(ctx, "logger"):
            ctx.logger.info(
                f"kedro-krt node '{self.plan.node.name}' ready: "
                f"{', '.join(self.plan.node.kedro_nodes)}"
            )

    async def handler(self, ctx: Any, data: Any) -> Any:
        """Decode the Any, run the Kedro nodes, encode what the next node or the caller needs."""
        return self.process(data)

    def process(self, data: Any) -> Any:
        """The synchronous body of `handler`."""
        session = self._session
        if session is None:
            self.init(None)
            session = self._session
            assert session is not None
        msg = self.input_cls()
        # Unpack checks the Any's type first and parses nothing of another type.
        if not data.Unpack(msg):
            raise InvalidRequest(
                f"node '{self.plan.node.name}' expects a "
                f"{self.input_cls.DESCRIPTOR.full_name}, got {data.TypeName() or 'an empty Any'}"
            )
        unknown = unknown_fields_in(msg, data.value) if self._check_unknown else None
        if unknown is not None:
            expected = self.input_cls.DESCRIPTOR.full_name
            refuse_stray_fields(self.plan.node.name, expected, unknown)
        try:
            if self._rows:
                self._rows(msg)
            if self._presence:
                self._presence(msg)
            decoded = self._decoder.decode(msg)
        except CodecError as exc:
            raise InvalidRequest(str(exc)) from exc
        params = decoded.pop(PARAMETERS_FIELD, None)
        for dataset, field, presence in self._field_parameters:
            if (presence and not msg.HasField(field)) or decoded.get(dataset) is None:
                decoded.pop(dataset, None)
        values = session.run(decoded, params, self._outputs)
        if self._encode_parameters and params is not None:
            values[PARAMETERS_FIELD] = params
        out = self._encoder.encode(values)
        self._relay.copy(msg, out)
        if self._carry:
            self._carry.copy(msg, out)
        return out
