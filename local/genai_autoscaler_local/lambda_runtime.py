"""Lambda, in-process: moto's simple Lambda backend patched to run the real handler of each function.

The function's environment (as CloudFormation set it in moto) is applied around the call; a handler's
exception comes back as a function error (`X-Amz-Function-Error: Unhandled`, errorType = its class name),
which is what Step Functions' Retry and Catch match on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from unittest import mock

from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.aws.lambda_entry import logger
from moto.awslambda_simple.models import LambdaSimpleBackend

if TYPE_CHECKING:
    from genai_autoscaler.aws.controller import Controller


@dataclass
class Invocation:
    function: str
    event: Any
    at: datetime | None = None
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None


class FakeContext:
    def __init__(self, function_name: str, arn: str):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = 512
        self.aws_request_id = "local-request"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class InProcessLambdas:
    """Runs the handlers of the stack's functions; `controller_for` builds the Controller each call gets."""

    code_dirs: dict[str, Path]
    controller_for: Callable[[ControllerSettings], Controller]
    environment_overrides: dict[str, str] = field(default_factory=dict)
    invocations: list[Invocation] = field(default_factory=list)
    _modules: dict[str, ModuleType] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    # Per thread: a workflow's thread runs a handler while the test's thread calls AWS as the operator.
    _local: threading.local = field(default_factory=threading.local)

    @property
    def running(self) -> str | None:
        """The function whose handler runs on this thread now (None: none), for whom its AWS calls are."""
        return getattr(self._local, "running", None)

    def _module(self, function_name: str) -> ModuleType:
        if function_name not in self._modules:
            path = self.code_dirs[function_name] / "app.py"
            spec = importlib.util.spec_from_file_location(f"lambda_{path.parent.name}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load the handler at {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._modules[function_name] = module
        return self._modules[function_name]

    @contextmanager
    def installed(self) -> Iterator[None]:
        runtime = self

        def invoke(
            backend: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: dict[str, str],
        ) -> bytes:
            name = function_name.split(":function:")[-1].split(":")[0]
            function = backend.get_function(name)
            return runtime.run(name, function.function_arn, function.environment_vars, body, response_headers)

        with mock.patch.object(LambdaSimpleBackend, "invoke", invoke):
            yield

    def run(
        self, name: str, arn: str, environment: dict[str, str], body: Any, response_headers: dict[str, str]
    ) -> bytes:
        event = json.loads(body) if body else {}
        invocation = Invocation(function=name, event=event)
        variables = {k: str(v) for k, v in environment.items()} | self.environment_overrides
        with self._lock, mock.patch.dict(os.environ, variables):
            outer, self._local.running = self.running, name
            try:
                # Lambda reads the log level once, at a cold start; here one process runs every invocation.
                logger.setLevel(variables.get("POWERTOOLS_LOG_LEVEL", "INFO"))
                controller = self.controller_for(ControllerSettings.from_env())
                invocation.at = controller.now()
                invocation.result = self._module(name).handler(
                    event, FakeContext(name, arn), controller=controller
                )
                payload = json.dumps(invocation.result, default=str)
            except Exception as exc:  # a Lambda function error, as the Lambda service reports it
                invocation.error_type = type(exc).__name__
                invocation.error_message = str(exc)
                response_headers["x-amz-function-error"] = "Unhandled"
                payload = json.dumps(
                    {
                        "errorType": invocation.error_type,
                        "errorMessage": invocation.error_message,
                        "stackTrace": traceback.format_tb(exc.__traceback__)[-3:],
                    }
                )
            finally:
                self._local.running = outer
                self.invocations.append(invocation)
        return payload.encode()
