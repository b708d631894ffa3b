"""``python -m kedro_krt.serve SOURCE [options]``: serve a KRT without the Kedro CLI.

Also the entry of worker processes (``--worker``), which the supervisor starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.options import DEFAULT_START_TIMEOUT_S


def _config_item(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--config {text!r}: write NAME=VALUE")
    return name, value


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, serve, return the exit code (1 with a message on a user error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--worker"]:
        from kedro_krt.serve.supervisor import run_worker_from_env

        return run_worker_from_env()
    parser = argparse.ArgumentParser(prog="python -m kedro_krt.serve", description=__doc__)
    parser.add_argument("source", type=Path, help="a .krt, a KRT folder or its krt.yml")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--web-port", type=int, default=8080, help="0 turns it off")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument(
        "--start-timeout", type=float, default=DEFAULT_START_TIMEOUT_S,
        help="seconds the nodes' inits may take before the server exits",
    )
    parser.add_argument("--config", type=_config_item, action="append", default=[])
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--ready-file", type=Path, default=None)
    parser.add_argument("--nats", action="store_true", help="KRE's topology (nats-server)")
    parser.add_argument("--nats-url", default=None, help="with --nats: a running NATS server")
    ns = parser.parse_args(args)
    from kedro_krt.serve.server import run_server

    try:
        return run_server(
            ns.source, host=ns.host, port=ns.port, web_port=ns.web_port, workers=ns.workers,
            timeout=ns.timeout, config=dict(ns.config), state_dir=ns.state_dir,
            ready_file=ns.ready_file, nats=ns.nats, nats_url=ns.nats_url,
            start_timeout=ns.start_timeout,
        )
    except ServeError as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
