"""QuotaSource on Service Quotas, on an injected `service-quotas` client.

GetServiceQuota returns a quota's applied value; "If the applied quota value is not available for a quota, the
quota is not retrieved" (NoSuchResourceException), and GetAWSDefaultServiceQuota then gives AWS's default
value, which "does not reflect any quota increases" (botocore's service model service-quotas-2019-06-24). Neither
answering means Service Quotas has no such quota here. A quota returned without a Value carries an ErrorReason
(Service Quotas could not ask the owning service): that is a failure to read, not a value.

Quotas change rarely and a Bedrock decision reads them every time, so what was read is kept for CACHE_SECONDS
per client: clients are made once per execution environment (aws/clients.py), and so is the cache.
Failures are not kept: the next read asks again.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import QuotaSource
from genai_autoscaler.aws.errors import error_code, translate
from genai_autoscaler.domain.quotas import ServiceQuota
from genai_autoscaler.errors import ActuationRejected, TransientAwsError

CACHE_SECONDS = 300.0
NO_SUCH_RESOURCE = "NoSuchResourceException"
# ErrorReason codes that say the owning service was busy or down, rather than that the call can never succeed.
_TRANSIENT_REASONS = frozenset({"DEPENDENCY_THROTTLING_ERROR", "DEPENDENCY_SERVICE_ERROR"})

_shared: weakref.WeakKeyDictionary[Any, ServiceQuotasSource] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


class ServiceQuotasSource(QuotaSource):
    def __init__(
        self,
        client: Any,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, ServiceQuota | None]] = {}

    @classmethod
    def shared(cls, client: Any) -> ServiceQuotasSource:
        """The one source of `client`, with its cache: what one invocation read serves the next ones."""
        with _shared_lock:
            source = _shared.get(client)
            if source is None:
                source = _shared[client] = cls(client)
            return source

    def get(self, service_code: str, quota_code: str) -> ServiceQuota | None:
        key = (service_code, quota_code)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        found = self._call("get_service_quota", service_code, quota_code, applied=True)
        if found is None:
            found = self._call("get_aws_default_service_quota", service_code, quota_code, applied=False)
        self._cache[key] = (now + self._cache_seconds, found)
        return found

    def _call(self, method: str, service_code: str, quota_code: str, applied: bool) -> ServiceQuota | None:
        which = "applied value" if applied else "default value"
        doing = f"reading the {which} of the {service_code} quota {quota_code} from Service Quotas"
        try:
            quota = getattr(self._client, method)(ServiceCode=service_code, QuotaCode=quota_code)["Quota"]
        except ClientError as exc:
            if error_code(exc) == NO_SUCH_RESOURCE:
                return None
            raise translate(exc, doing) from exc
        if "Value" not in quota:
            reason = quota.get("ErrorReason") or {}
            if not reason:
                return None  # nothing to go by, as if it had not been retrieved
            code = reason.get("ErrorCode", "")
            text = f"{doing}: {code}: {reason.get('ErrorMessage', '')}"
            raise TransientAwsError(text) if code in _TRANSIENT_REASONS else ActuationRejected(text)
        return ServiceQuota(
            service_code=service_code,
            quota_code=quota_code,
            name=str(quota.get("QuotaName", quota_code)),
            value=float(quota["Value"]),
            applied=applied,
        )
