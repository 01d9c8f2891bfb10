"""Translation of metric wire bodies, shared by the model and version routes."""

from __future__ import annotations

import base64
import binascii

from modelyard.api import schemas as s
from modelyard.domain.service import MetricInput
from modelyard.errors import InvalidArgument


def metrics_in(body: s.MetricsIn) -> list[MetricInput]:
    out = []
    for i, m in enumerate(body.metrics):
        if (m.value is None) == (m.value_bytes is None):
            raise InvalidArgument(
                f"metrics[{i}]: expected exactly one of value or value_bytes",
                field=f"metrics[{i}].value",
            )
        value: float | str | bytes
        if m.value_bytes is not None:
            try:
                value = base64.b64decode(m.value_bytes, validate=True)
            except binascii.Error:
                raise InvalidArgument(
                    f"metrics[{i}].value_bytes: expected base64", field=f"metrics[{i}].value_bytes"
                ) from None
        else:
            assert m.value is not None
            value = m.value
        out.append(MetricInput(key=m.key, value=value, step=m.step, wallclock=m.wallclock))
    return out
