"""Load a bundle and predict: the one way checks, serving and prepare run a model.

``load_predictor(bundle, spec)`` picks the code that serves the bundle -- its ``score.py`` when
the spec names an entry point (whatever the flavor), else the flavor's own loader (Gesund's
``GesundModel``, MLflow's ``MLmodel``, a framework's model file) -- loads the model once, and
answers JSON for JSON. It runs model code: call it in a worker process, never in the API server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.runtime.data import jsonable
from modelyard.runtime.flavors import flavor
from modelyard.runtime.flavors.base import FlavorImpl


@dataclass(frozen=True, kw_only=True)
class Predictor:
    """A loaded model: ``predict`` takes a request's JSON data and answers JSON."""

    spec: RuntimeSpec
    flavor: FlavorImpl
    model: Any

    def predict(self, data: Any) -> Any:
        return jsonable(self.flavor.predict(self.model, data))

    def output_schema(self, answer: Any) -> dict[str, Any] | None:
        """The JSON Schema the model declares for its answers (Gesund's ``schema.py``), or
        None."""
        return self.flavor.output_schema(self.model, answer)


def load_predictor(bundle: Path, spec: RuntimeSpec) -> Predictor:
    """Load the model that ``spec`` describes from the bundle directory ``bundle``."""
    impl = flavor(Flavor.PYTHON if spec.entry_point else spec.flavor)
    return Predictor(spec=spec, flavor=impl, model=impl.load(bundle.resolve(), spec))
