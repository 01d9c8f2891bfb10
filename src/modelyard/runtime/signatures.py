"""The functions an entry point must define, checked with ``inspect.signature``.

- ``score.py`` (the ADS convention): ``load_model()`` callable without arguments, and
  ``predict(data, model=...)``. A ``predict(data)`` without the ``model`` keyword still serves
  (modelyard then calls ``predict(data)``) but cannot use what ``load_model()`` returned: WARN.
- An Azure ML style script (DeepDev's): ``init()`` callable without arguments and
  ``run(raw_data)``.
- Gesund's ``model.py``: class ``GesundModel`` made as ``GesundModel(model_path)`` or
  ``GesundModel()``, an optional ``load()`` / ``load(model_path)``, and ``predict(data)``.

Each answers a status and a message naming the file, line and signature.
"""

from __future__ import annotations

import inspect
from typing import Any

from modelyard.domain.runtime import CheckStatus
from modelyard.runtime.detect import GESUND_CLASS
from modelyard.runtime.flavors.python import init_run


def score_signatures(module: Any, entry: str) -> tuple[CheckStatus, str]:
    if init_run(module):
        return _init_run_signatures(module, entry)
    problems, warnings = [], []
    load_model = getattr(module, "load_model", None)
    predict = getattr(module, "predict", None)
    if load_model is None:
        problems.append(
            f"{entry} defines no load_model(): add one that loads and returns the model "
            "(open the model file next to it: os.path.dirname(__file__))"
        )
    elif not callable(load_model):
        problems.append(f"{entry}: load_model is a {type(load_model).__name__}, not a function")
    elif not _binds(load_model):
        problems.append(
            f"{_at(load_model, entry)}: load_model{_signature(load_model)} needs arguments, "
            "but it is called as load_model(); give its parameters defaults"
        )
    if predict is None:
        problems.append(
            f"{entry} defines no predict(): add def predict(data, model=None) returning the "
            "model's answer for a request's data"
        )
    elif not callable(predict):
        problems.append(f"{entry}: predict is a {type(predict).__name__}, not a function")
    elif not _binds(predict, object(), model=object()):
        if _binds(predict, object()):
            warnings.append(
                f"{_at(predict, entry)}: predict{_signature(predict)} takes no 'model' "
                "keyword, so it cannot use the model load_model() returned (it is called "
                "as predict(data)); the convention is def predict(data, model=None)"
            )
        else:
            problems.append(
                f"{_at(predict, entry)}: predict{_signature(predict)} cannot be called as "
                "predict(data, model=...); define it as def predict(data, model=None)"
            )
    if problems:
        return CheckStatus.FAIL, "; ".join(problems + warnings)
    if warnings:
        return CheckStatus.WARN, "; ".join(warnings)
    return CheckStatus.PASS, (
        f"{entry} defines load_model{_signature(load_model)} and predict{_signature(predict)}"
    )


def _init_run_signatures(module: Any, entry: str) -> tuple[CheckStatus, str]:
    problems = []
    init, run = getattr(module, "init", None), module.run
    if not callable(init):
        problems.append(
            f"{entry} defines run() but no init(): add def init() that loads the model (or "
            "write load_model() and predict(data, model=None) instead)"
        )
    elif not _binds(init):
        problems.append(
            f"{_at(init, entry)}: init{_signature(init)} needs arguments, but it is called "
            "as init(); give its parameters defaults"
        )
    if not callable(run) or not _binds(run, "{}"):
        problems.append(
            f"{_at(run, entry)}: run{_signature(run) if callable(run) else ''} cannot be "
            "called as run(raw_data); define it as def run(raw_data)"
        )
    if problems:
        return CheckStatus.FAIL, "; ".join(problems)
    return CheckStatus.PASS, f"{entry} defines init{_signature(init)} and run{_signature(run)}"


def gesund_signatures(module: Any, entry: str) -> tuple[CheckStatus, str]:
    cls = getattr(module, GESUND_CLASS, None)
    if not isinstance(cls, type):
        return CheckStatus.FAIL, (
            f"{entry} defines no class {GESUND_CLASS}: a Gesund bundle's model.py must define "
            f"class {GESUND_CLASS} with predict(data)"
        )
    problems = []
    if not (_binds(cls, "path") or _binds(cls)):
        problems.append(
            f"{_at(cls, entry)}: {GESUND_CLASS}{_signature(cls)} can be made neither as "
            f"{GESUND_CLASS}(model_path) nor as {GESUND_CLASS}(); give it one parameter, the "
            "model file's path"
        )
    load = getattr(cls, "load", None)
    if callable(load) and not (_binds(load, None) or _binds(load, None, "path")):
        problems.append(
            f"{_at(load, entry)}: {GESUND_CLASS}.load{_signature(load)} is called as load() "
            "or load(model_path); take at most that one argument"
        )
    predict = getattr(cls, "predict", None)
    if not callable(predict):
        problems.append(
            f"{entry}: {GESUND_CLASS} has no predict(data) method; add one that returns the "
            "model's output for preprocessed data"
        )
    elif not _binds(predict, None, object()):
        problems.append(
            f"{_at(predict, entry)}: {GESUND_CLASS}.predict{_signature(predict)} cannot be "
            "called as predict(data); define it as def predict(self, data)"
        )
    if problems:
        return CheckStatus.FAIL, "; ".join(problems)
    return CheckStatus.PASS, f"{entry} defines {GESUND_CLASS} with predict{_signature(predict)}"


def _binds(function: Any, *args: Any, **kwargs: Any) -> bool:
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except TypeError:
        return False
    except ValueError:  # no signature to read (a builtin): assume it takes what it is given
        return True
    return True


def _signature(function: Any) -> str:
    try:
        return str(inspect.signature(function))
    except (TypeError, ValueError):
        return "(...)"


def _at(obj: Any, entry: str) -> str:
    """``score.py line 12``, where ``obj`` is defined (when it can be told)."""
    try:
        line = inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return entry
    return f"{entry} line {line}"
