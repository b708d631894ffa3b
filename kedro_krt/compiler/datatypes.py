"""Where each request, response and carried field gets its type, in order of trust.

1. `schemas:` in krt.yml;  2. a sample file named under `samples:`;  3. the dataset's data where
the catalog can load it at compile time;  4. a trial run of the workflow on those samples (the
real node functions, in memory) for what the nodes produce;  5. the type hints of the node
functions that read or write it;  6. `google.protobuf.Value`, with a warning.
For a dataset the workflow produces, 4 comes before 3: a file from an earlier batch run may be
missing or stale, while the trial run shows what the nodes make now.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import pickle
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kedro_krt.node.analysis import CompileError
from kedro_krt.node.schema.infer import infer_type, type_from_config, type_from_hint
from kedro_krt.node.schema.types import TypeSpec

VALUE_TYPE = TypeSpec(kind="value")


def load_sample(path: Path) -> Any:
    """Read a sample file by its extension, as the catalog's pandas datasets would."""
    import pandas as pd

    suffix = path.suffix.lower()
    if not path.exists():
        raise FileNotFoundError(f"sample file {path} does not exist")
    if suffix == ".csv":
        frame = pd.read_csv(path)
        return _parse_dates(frame)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".json", ".jsonl"):
        return pd.read_json(path, lines=suffix == ".jsonl")
    if suffix in (".xlsx", ".xls"):
        return pd.read_excel(path)
    raise CompileError(
        f"sample file {path}: unsupported extension '{suffix}' "
        "(use .csv, .parquet, .json, .jsonl or .xlsx, or give the type under `schemas:`)"
    )


def _parse_dates(frame: Any) -> Any:
    # A CSV has no types: a text column that parses entirely as ISO dates is a timestamp.
    import pandas as pd

    for col in frame.columns:
        series = frame[col]
        if series.dtype == object or str(series.dtype) in ("str", "string"):
            sample = series.dropna().astype(str)
            if len(sample) and sample.str.match(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}.*)?$").all():
                with contextlib.suppress(ValueError, TypeError):
                    frame[col] = pd.to_datetime(series)
    return frame


class TypeResolver:
    """Resolves the proto type of datasets of one workflow, remembering why."""

    def __init__(
        self,
        *,
        schemas: Mapping[str, Any],
        samples: Mapping[str, str],
        project_path: Path,
        load_from_catalog: Callable[[str], tuple[bool, Any, str]],
        nodes: Sequence[Any],
        request: Sequence[str],
        preloaded: Mapping[str, Any],
    ) -> None:
        self._schemas = schemas
        self._samples = samples
        self._path = project_path
        self._load = load_from_catalog
        self._nodes = nodes
        self._request = list(request)
        self._preloaded = preloaded
        self._data: dict[str, tuple[Any, str]] = {}
        self._trial: dict[str, Any] | None = None
        self.warnings: list[str] = []
        #: Datasets whose trial value is an object no message can carry (a model, a client).
        self.opaque: dict[str, str] = {}
        #: Datasets a node changed in place during the trial run, with the nodes that did.
        self.mutated: dict[str, list[str]] = {}
        #: Whether the trial run called every node (so `mutated` is complete).
        self.trial_complete = False

    def data(self, name: str) -> tuple[bool, Any, str]:
        """The dataset's data from a sample file or the catalog: (found, value, source)."""
        if name in self._data:
            value, source = self._data[name]
            return True, value, source
        if name in self._samples:
            path = self._path / self._samples[name]
            value = load_sample(path)
            self._data[name] = (value, f"sample file {self._samples[name]}")
            return True, value, self._data[name][1]
        found, value, source = self._load(name)
        if found:
            self._data[name] = (value, source)
        return found, value, source

    def trial_values(self) -> dict[str, Any]:
        """Run the workflow's nodes once on the sample request, in memory, to see real outputs.

        As Kedro's runner does, each node gets copies of its inputs: a node that changes its
        input in place (spaceflights' ``preprocess_shuttles``) must not change the sample the
        request is typed from. Comparing each copy after the call tells which nodes change
        which inputs (:attr:`mutated`).
        """
        if self._trial is not None:
            return self._trial
        self._trial = {}
        values: dict[str, Any] = dict(self._preloaded)
        for name in self._request:
            found, value, _ = self.data(name)
            if not found:
                return self._trial
            values[name] = value
        for node in self._nodes:
            try:
                given = {k: values[k] for k in node.inputs}
                handed = {k: copy.deepcopy(v) for k, v in given.items()}
                outputs = node.run(handed)
            except Exception as exc:  # the user's node failed on the sample: say so, go on
                self.warnings.append(
                    f"trial run stopped at node '{node.name}': {type(exc).__name__}: {exc}; "
                    "types of later datasets come from type hints"
                )
                break
            for k in given:
                if not same_value(given[k], handed[k]):
                    self.mutated.setdefault(k, []).append(node.name)
            values.update(outputs)
        else:
            self.trial_complete = True
        self._trial = values
        return values

    def fails_on(self, request: Mapping[str, Any]) -> str | None:
        """Why the workflow does not answer ``request`` (values by dataset name), or None when
        every node runs on it, as the trial run ran them on the whole samples: the check of the
        example request."""
        # An artifact no node changed in the complete trial run is handed as it is (no copy of
        # a large model); the others are copied, as the trial run copies them.
        values: dict[str, Any] = {**self._preloaded, **request}
        shared = set(self._preloaded) - set(self.mutated) if self.trial_complete else set()
        # Kedro's Node.run logs an ERROR before it re-raises: the caller reports the failure
        # as a warning of its own, so that line would only alarm.
        node_log = logging.getLogger("kedro.pipeline.node")
        was_disabled, node_log.disabled = node_log.disabled, True
        try:
            for node in self._nodes:
                try:
                    given = {
                        k: values[k] if k in shared else copy.deepcopy(values[k])
                        for k in node.inputs
                    }
                    values.update(node.run(given))
                except Exception as exc:  # the user's node failed on these rows
                    return f"node '{node.name}' fails on them: {type(exc).__name__}: {exc}"
        finally:
            node_log.disabled = was_disabled
        return None

    def resolve(self, name: str) -> tuple[TypeSpec, str]:
        """The type of dataset `name` and where it came from."""
        if name in self._schemas:
            return type_from_config(self._schemas[name], where=f"schemas.{name}"), "schemas"
        # What the workflow produces is typed by running it: a file left by an old batch run
        # (absent from a fresh clone, or stale) must not decide the type of a response.
        produced = name not in self._samples and any(name in n.outputs for n in self._nodes)
        if produced:
            from_trial = self._from_trial(name)
            if from_trial is not None:
                return from_trial
        found, value, source = self.data(name)
        if found:
            spec = infer_type(value)
            if spec is not None:
                return spec, source
        if not produced:
            from_trial = self._from_trial(name)
            if from_trial is not None:
                return from_trial
        hinted = self._from_hints(name)
        if hinted is not None:
            return hinted
        self.warnings.append(
            f"no type found for '{name}': it travels as google.protobuf.Value. Give its type "
            f"under `schemas:` or a sample file under `samples:` in krt.yml"
        )
        return VALUE_TYPE, "unknown (google.protobuf.Value)"

    def _from_trial(self, name: str) -> tuple[TypeSpec, str] | None:
        trial = self.trial_values()
        if name in trial:
            spec = infer_type(trial[name])
            if spec is not None:
                return spec, "trial run on the sample request"
            if not _json_like(trial[name]):
                value = trial[name]
                self.opaque[name] = f"{type(value).__module__}.{type(value).__qualname__}"
        return None

    def _from_hints(self, name: str) -> tuple[TypeSpec, str] | None:
        for node in self._nodes:
            hint = None
            if name in node.inputs:
                hint = _input_hint(node, name)
            elif list(node.outputs) == [name]:
                hint = _hints(node.func).get("return")
            if hint is not None:
                spec = type_from_hint(hint)
                if spec is not None:
                    return spec, f"type hint of node '{node.name}'"
        return None


def same_value(a: Any, b: Any) -> bool:
    """Whether two values are equal in every way a node could have changed one of them."""
    try:
        import pandas as pd

        if isinstance(a, pd.DataFrame | pd.Series) and type(a) is type(b):
            if isinstance(a, pd.DataFrame) and (
                list(a.columns) != list(b.columns) or list(a.dtypes) != list(b.dtypes)
            ):
                return False
            return bool(a.equals(b)) and a.index.equals(b.index)
    except ImportError:  # pragma: no cover
        pass
    try:
        return pickle.dumps(a) == pickle.dumps(b)
    except Exception:  # cannot tell: count it as changed, so it is protected
        return False


def _json_like(value: Any) -> bool:
    """Could `google.protobuf.Value` carry it (JSON: None, bool, numbers, text, lists, dicts)?"""
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:  # unresolvable forward refs: hints are a best effort
        return getattr(func, "__annotations__", {}) or {}


def _input_hint(node: Any, name: str) -> Any:
    """The annotation of the function argument that receives dataset `name`."""
    try:
        params = list(inspect.signature(node.func).parameters.values())
    except (TypeError, ValueError):
        return None
    hints = _hints(node.func)
    short = name.split(":")[-1].split(".")[-1]
    for p in params:
        if p.name == short:
            return hints.get(p.name)
    inputs = list(node.inputs)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) == len(inputs):
        return hints.get(positional[inputs.index(name)].name)
    return None
