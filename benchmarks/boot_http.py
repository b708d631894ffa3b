"""kedro-boot 0.3.0's own serving path, as an end-to-end peer: its FastAPI app under uvicorn.

    python -m benchmarks.boot_http --project P --pipeline light|inference --port PORT

What ``kedro boot fastapi`` does (``kedro_boot/app/fastapi/app.py``, ``FastApiApp._run``), read
from the installed kedro-boot 0.3.0: a ``KedroSession`` runs the pipeline through kedro-boot's
adapter, which hands a ``KedroBootSession`` to the app; ``KedroFastApiSession.compile(app)``
derives a ``CompilationSpec`` per route (namespace = the route's ``operation_id``, inputs = the
parameters typed with a pydantic model, the output = the endpoint's name when it returns a model),
``app.dependency_overrides[kedro_fastapi_session]`` plugs the session into the ``KedroFastApi``
dependency, and each request runs ``session.run(namespace, inputs={<input>: <the JSON body>})``
(a pandas dataset's JSON rows become a DataFrame through ``pandas.json_normalize``).

On Linux ``FastApiApp`` serves through gunicorn with a ``UvicornH11Worker`` and adds Pyctuator's
actuator routes; on Windows it calls ``uvicorn.run(app)``. This launcher takes that uvicorn branch
on every OS (one process, the h11 protocol, no Pyctuator: nothing of it is on a request's path),
bound to 127.0.0.1, and prints ``Serving ...`` once uvicorn listens.

The app is what a kedro-boot user writes for this pipeline: ``POST /<namespace>`` with a list of
shuttle rows, returning the quotes as JSON records.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from benchmarks.common import quiet_logging

#: Per pipeline: the kedro-boot pipeline and namespace (``benchmarks/main.py``, ``light.py``).
BOOT = {"inference": ("boot_inference", "inference"), "light": ("boot_light", "light")}


def make_app(namespace: str) -> Any:
    """A FastAPI app with one kedro-boot route, ``POST /<namespace>`` (operation ``namespace``).

    kedro-boot names the output after the endpoint function, so the function is ``quotes``.
    """
    from fastapi import FastAPI
    from kedro_boot.app.fastapi.session import KedroFastApi
    from pydantic import BaseModel

    class Shuttle(BaseModel):
        shuttle_id: str
        shuttle_type: str
        engine_type: str
        engines: int
        passenger_capacity: int
        crew: int
        d_check_complete: bool
        moon_clearance_complete: bool
        iata_approved: bool
        company_rating: float
        launched_at: dt.datetime

    class Quote(BaseModel):
        model_config = {"extra": "allow"}
        price: float

    app = FastAPI(title="kedro-boot peer (kedro-krt benchmarks)")

    def quotes(shuttles: list[Shuttle], kedro_run: KedroFastApi) -> list[Quote]:
        return kedro_run.to_dict(orient="records")  # type: ignore[attr-defined, no-any-return]

    # Annotations as kedro-boot's compile reads them (typing.List of a model, the return model).
    from typing import List  # noqa: UP035 (kedro-boot checks param_type.__name__ == "List")

    quotes.__annotations__ = {"shuttles": List[Shuttle], "kedro_run": KedroFastApi,  # noqa: UP006
                              "return": Quote}
    app.post(f"/{namespace}", operation_id=namespace, response_model=list[Quote])(quotes)
    return app


def serve(project: Path, pipeline: str, port: int) -> None:
    """Boot the project with kedro-boot, compile the app's route, serve it with uvicorn."""
    quiet_logging()
    import uvicorn
    from kedro_boot.app.booter import boot_project
    from kedro_boot.app.fastapi.session import KedroFastApiSession, kedro_fastapi_session

    boot_pipeline, namespace = BOOT[pipeline]
    # LAZY_COMPILE as FastApiApp: booted without specs, compiled from the app's routes below.
    session = _boot_lazy(project, boot_pipeline, boot_project)
    quiet_logging()
    app = make_app(namespace)
    fastapi_session = KedroFastApiSession(session)
    fastapi_session.compile(app)
    app.dependency_overrides[kedro_fastapi_session] = fastapi_session
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http="h11", loop="asyncio",
                            log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.01)
        print(f"Serving kedro-boot FastAPI on 127.0.0.1:{port}", flush=True)
        await task

    asyncio.run(run())


def _boot_lazy(project: Path, boot_pipeline: str, boot_project: Any) -> Any:
    """kedro-boot's booter with a lazily compiled session (as ``FastApiApp.LAZY_COMPILE``)."""
    from kedro_boot.app.app import BooterApp

    lazy = BooterApp.LAZY_COMPILE
    BooterApp.LAZY_COMPILE = True
    try:
        return boot_project(project, kedro_args={"pipeline": boot_pipeline})
    finally:
        BooterApp.LAZY_COMPILE = lazy


def main() -> None:
    """Parse the options and serve until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--pipeline", choices=sorted(BOOT), default="inference")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(args.project, args.pipeline, args.port)


if __name__ == "__main__":
    main()
