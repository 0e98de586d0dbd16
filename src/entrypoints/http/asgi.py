"""ASGI entry for uvicorn (`entrypoints.http.asgi:app`): settings from the environment."""

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.logs import configure_logging
from entrypoints.settings import load
from entrypoints.supervisor import stop_with_serve

stop_with_serve()
configure_logging()
app = create_app(build_container(load()))
