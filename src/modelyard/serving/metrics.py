"""Per-deployment serving metrics in the Prometheus text format (``GET /metrics``).

Counters of predictions by outcome, a latency histogram, replica restarts and replicas up,
each labelled with the deployment's id and name. Kept in the server process, updated on the
event loop (no locks needed), rendered on demand.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

#: Upper bounds of the latency buckets, in seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.n += 1


class ServingMetrics:
    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._requests: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._latency: defaultdict[str, _Histogram] = defaultdict(_Histogram)
        self._restarts: defaultdict[str, int] = defaultdict(int)
        self._replicas: dict[str, int] = {}

    def name(self, deployment_id: str, name: str) -> None:
        self._names[deployment_id] = name

    def observe(self, deployment_id: str, outcome: str, seconds: float) -> None:
        """One prediction: ``outcome`` is ``ok`` or the error code it ended with."""
        self._requests[(deployment_id, outcome)] += 1
        self._latency[deployment_id].observe(seconds)

    def restarted(self, deployment_id: str) -> None:
        self._restarts[deployment_id] += 1

    def replicas(self, deployment_id: str, up: int) -> None:
        self._replicas[deployment_id] = up

    def requests(self, deployment_id: str, outcome: str = "ok") -> int:
        return self._requests[(deployment_id, outcome)]

    def render(self) -> str:
        lines: list[str] = []

        def labels(deployment_id: str, **extra: str) -> str:
            pairs = {"deployment": deployment_id, "name": self._names.get(deployment_id, "")}
            pairs.update(extra)
            return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items())

        lines += [
            "# HELP modelyard_predictions_total Predictions by deployment and outcome.",
            "# TYPE modelyard_predictions_total counter",
        ]
        for (dep, outcome), n in sorted(self._requests.items()):
            lines.append(f"modelyard_predictions_total{{{labels(dep, outcome=outcome)}}} {n}")
        lines += [
            "# HELP modelyard_prediction_errors_total Predictions that did not succeed.",
            "# TYPE modelyard_prediction_errors_total counter",
        ]
        errors: defaultdict[str, int] = defaultdict(int)
        for (dep, outcome), n in self._requests.items():
            if outcome != "ok":
                errors[dep] += n
        for dep in sorted(self._latency):
            lines.append(f"modelyard_prediction_errors_total{{{labels(dep)}}} {errors[dep]}")
        lines += [
            "# HELP modelyard_prediction_seconds Time from receiving a prediction to answering.",
            "# TYPE modelyard_prediction_seconds histogram",
        ]
        for dep, hist in sorted(self._latency.items()):
            cumulative = 0
            for bound, count in zip((*BUCKETS, float("inf")), hist.counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                bucket = labels(dep, le=le)
                lines.append(f"modelyard_prediction_seconds_bucket{{{bucket}}} {cumulative}")
            lines.append(f"modelyard_prediction_seconds_sum{{{labels(dep)}}} {hist.total:.6f}")
            lines.append(f"modelyard_prediction_seconds_count{{{labels(dep)}}} {hist.n}")
        lines += [
            "# HELP modelyard_replica_restarts_total Replicas restarted after their worker died.",
            "# TYPE modelyard_replica_restarts_total counter",
        ]
        for dep, n in sorted(self._restarts.items()):
            lines.append(f"modelyard_replica_restarts_total{{{labels(dep)}}} {n}")
        lines += [
            "# HELP modelyard_replicas_ready Replicas answering on this server.",
            "# TYPE modelyard_replicas_ready gauge",
        ]
        for dep, n in sorted(self._replicas.items()):
            lines.append(f"modelyard_replicas_ready{{{labels(dep)}}} {n}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
