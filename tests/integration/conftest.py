"""One moto server, patched as the platform patches it (`apply_aws_parity`), for the integration
tests that need AWS: on loopback, in a region no tenant lives in, because the platform's own
emulator may share this process and moto's state."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local.emulator import apply_aws_parity

REGION = "eu-north-1"


@dataclass
class MotoServer:
    url: str

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="parity",
            aws_secret_access_key="parity",  # noqa: S106 (moto accepts any)
            # A 5xx must show, not be retried away; a thread each for the concurrency test.
            config=Config(retries={"total_max_attempts": 1}, max_pool_connections=32),
        )


@pytest.fixture(scope="session")
def emulator() -> Iterator[MotoServer]:
    from moto.core.config import default_user_config
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    saved_lambda, saved_sfn = default_user_config.get("lambda"), default_user_config.get("stepfunctions")
    # As the platform configures moto (local.emulator.configure_moto), bar MOTO_PORT: a platform
    # in this process keeps its own.
    default_user_config["lambda"] = {"use_docker": False}
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    apply_aws_parity()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    served = MotoServer(f"http://127.0.0.1:{port}")
    try:
        yield served
    finally:
        server.stop()
        if saved_lambda is not None:
            default_user_config["lambda"] = saved_lambda
        if saved_sfn is not None:
            default_user_config["stepfunctions"] = saved_sfn
