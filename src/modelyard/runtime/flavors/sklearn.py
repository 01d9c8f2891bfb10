"""scikit-learn estimators, in joblib files (pickles: flagged unsafe) or skops files (safe).

A skops file declares the types it is made of; loading trusts scikit-learn's and numpy's
(classes and ufuncs) and refuses any other type unless the flavor was told to trust it
(``SklearnFlavor(trusted=[...])``), so a skops file cannot smuggle in ``builtins.eval``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import InvalidArgument
from modelyard.runtime.data import jsonable
from modelyard.runtime.flavors.base import FlavorImpl
from modelyard.runtime.formats import sniff
from modelyard.runtime.packages import pinned

FORMATS = ("joblib", "skops")
#: What ``sniff`` calls the files each format writes (joblib: plain or compressed pickles).
_SNIFFED = {"joblib": ("pickle", "joblib-compressed"), "skops": ("skops",)}


class SklearnFlavor(FlavorImpl):
    """``format`` is what ``save`` writes (``joblib`` or ``skops``); ``trusted`` names types
    a skops file may hold beyond scikit-learn's and numpy's (``mypackage.MyTransformer``)."""

    flavor = Flavor.SKLEARN
    suffixes: ClassVar[tuple[str, ...]] = (".joblib", ".skops", ".pkl", ".pickle")
    packages: ClassVar[tuple[str, ...]] = ("scikit-learn", "numpy")

    def __init__(self, format: str = "joblib", *, trusted: Iterable[str] = ()) -> None:
        self.format = _format(format)
        self.trusted = frozenset(trusted)

    def accepts(self, model: Any) -> bool:
        if "sklearn" not in sys.modules:
            return False
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

    def save(
        self, model: Any, bundle: Path, *, name: str = "model", format: str | None = None
    ) -> RuntimeSpec:
        """Write ``<name>.joblib`` or ``<name>.skops`` (``format``, else the flavor's)."""
        fmt = self.format if format is None else _format(format)
        if not self.accepts(model):
            raise InvalidArgument(
                "model: the sklearn flavor saves scikit-learn estimators (BaseEstimator), got "
                f"a {type(model).__module__}.{type(model).__qualname__}",
                field="model",
            )
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(model)
        except NotFittedError:
            raise InvalidArgument(
                f"model: the {type(model).__name__} is not fitted; call fit() before saving it",
                field="model",
            ) from None
        bundle.mkdir(parents=True, exist_ok=True)
        path = bundle / f"{name}.{fmt}"
        if fmt == "skops":
            import skops.io

            skops.io.dump(model, path)
        else:
            import joblib

            joblib.dump(model, path)
        return RuntimeSpec(
            flavor=self.flavor, model_file=path.name, requirements=_requirements(fmt)
        )

    def requirements(self) -> list[str]:
        return _requirements(self.format)

    def detect(self, bundle: Path, files: list[str]) -> RuntimeSpec | None:
        for path in files:
            suffix = PurePosixPath(path).suffix.lower()
            if suffix not in self.suffixes or not (bundle / path).is_file():
                continue
            fmt = "skops" if suffix == ".skops" else "joblib"
            if sniff(bundle / path).name in _SNIFFED[fmt]:
                return RuntimeSpec(flavor=self.flavor, model_file=path)
        return None

    def load(self, bundle: Path, spec: RuntimeSpec) -> Any:
        path = self.model_path(bundle, spec)
        found = sniff(path)
        if found.name in _SNIFFED["skops"]:
            return self._load_skops(path, str(spec.model_file))
        if found.name in _SNIFFED["joblib"]:
            import joblib

            return joblib.load(path)
        raise InvalidArgument(
            f"runtime.model_file: {spec.model_file} is {found.describe()}, not a joblib/pickle "
            "or skops file; save the estimator with joblib.dump or skops.io.dump",
            field="runtime.model_file",
        )

    def _load_skops(self, path: Path, name: str) -> Any:
        import skops.io

        untrusted = skops.io.get_untrusted_types(file=path)
        refused = sorted(t for t in untrusted if t not in self.trusted and not _known(t))
        if refused:
            raise InvalidArgument(
                f"runtime.model_file: {name} holds types that are neither scikit-learn's nor "
                f"numpy's: {', '.join(refused)}; loading them can run their code. If you trust "
                "where the file came from, load it with SklearnFlavor(trusted=[...]) naming "
                "them, or from a score.py that calls skops.io.load(path, trusted=[...])",
                field="runtime.model_file",
            )
        return skops.io.load(path, trusted=untrusted)

    def predict(self, model: Any, data: Any) -> Any:
        rows = _rows(model, data)
        try:
            answer = model.predict(rows)
        except (ValueError, TypeError) as exc:
            raise InvalidArgument(
                f"data: the model rejected the rows ({_first_line(exc)}); send rows like the "
                "ones it was fit on",
                field="data",
            ) from exc
        return jsonable(answer)

    def unsafe_format(self, spec: RuntimeSpec) -> str | None:
        if PurePosixPath(spec.model_file or "").suffix.lower() == ".skops":
            return None
        return (
            f"{spec.model_file} is a pickle (joblib): loading it runs any code stored in it, "
            "so load it only from people you trust. Save the estimator with skops instead "
            "(SklearnFlavor(format='skops') or skops.io.dump(model, 'model.skops')): a skops "
            "file loads only the types it declares"
        )


def _format(value: str) -> str:
    if value not in FORMATS:
        raise InvalidArgument(
            f"format: expected one of {', '.join(FORMATS)}, got {value!r}", field="format"
        )
    return value


def _requirements(fmt: str) -> list[str]:
    return pinned((*SklearnFlavor.packages, fmt))


def _known(name: str) -> bool:
    """Whether a type a skops file names is trusted without being listed: anything of
    scikit-learn's, and numpy's classes and ufuncs (not numpy functions such as ``load``)."""
    module, _, attribute = name.rpartition(".")
    top = module.partition(".")[0]
    if top == "sklearn":
        return True
    if top != "numpy" or module not in sys.modules:
        return False
    import numpy as np

    value = getattr(sys.modules[module], attribute, None)
    return isinstance(value, type | np.ufunc)


def _rows(model: Any, data: Any) -> Any:
    """``data`` (a list of rows, or an object of columns) as the estimator's ``X``."""
    import numpy as np

    names = getattr(model, "feature_names_in_", None)
    expected = getattr(model, "n_features_in_", None)
    if isinstance(data, Mapping):
        return _columns(data, None if names is None else list(names))
    try:
        rows = np.asarray(data)
    except ValueError:
        raise InvalidArgument(
            f"data: expected a list of rows of equal length{_features(expected)}; the rows "
            "differ in length",
            field="data",
        ) from None
    if rows.dtype.kind == "U" and not _all_strings(data):
        rows = np.asarray(data, dtype=object)  # numbers and strings mixed: keep each as it is
    if rows.ndim == 1 and expected is not None and expected > 1 and len(rows) == expected:
        rows = rows.reshape(1, -1)  # one row
    if rows.ndim != 2 or (expected is not None and rows.shape[1] != expected):
        raise InvalidArgument(
            f"data: expected a list of rows{_features(expected)}, got an array of shape "
            f"{list(rows.shape)}",
            field="data",
        )
    if names is not None:  # fit on a data frame: name the columns as it was
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows, columns=list(names))
    return rows


def _columns(data: Mapping[str, Any], names: list[str] | None) -> Any:
    order = f" in this order: {', '.join(names)}" if names else ""
    try:
        import pandas as pd
    except ImportError:
        raise InvalidArgument(
            "data: an object of columns needs pandas, which is not installed here; install "
            f"pandas, or send a list of rows with the features{order}",
            field="data",
        ) from None
    if names is not None:
        missing = [n for n in names if n not in data]
        if missing:
            raise InvalidArgument(
                f"data: missing the columns {', '.join(missing)}; the model was fit on the "
                f"columns {', '.join(names)}",
                field="data",
            )
    try:
        frame = pd.DataFrame(dict(data))
    except ValueError as exc:
        raise InvalidArgument(
            f"data: expected columns of equal length ({_first_line(exc)})", field="data"
        ) from None
    return frame if names is None else frame[names]


def _features(expected: int | None) -> str:
    return "" if expected is None else f" of {expected} features each"


def _all_strings(data: Any) -> bool:
    if isinstance(data, str):
        return True
    if isinstance(data, list | tuple):
        return all(_all_strings(item) for item in data)
    return False


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
