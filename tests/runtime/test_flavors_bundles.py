"""The bundle flavors: an ADS ``score.py``, a Gesund bundle, and the code import that serves both.

Every bundle is written here around a tiny scikit-learn model trained here; predictions through
``load_predictor`` must equal the model's own. Bundle code is imported for real, twice in one
process where isolation matters.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import InvalidArgument, ModelError
from modelyard.runtime.bundle import (
    SPEC_FILE,
    BundleFile,
    bundle_code,
    read_bundle,
    write_bundle,
)
from modelyard.runtime.flavors import flavor
from modelyard.runtime.predictor import load_predictor

RNG = np.random.default_rng(3)
X = RNG.normal(size=(30, 4))
Y = (X[:, 0] - X[:, 2] > 0).astype(int)
ROWS = X[:6].tolist()


@pytest.fixture(scope="module")
def classifier() -> LogisticRegression:
    return LogisticRegression().fit(X, Y)


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return directory


# -- score.py (OCI ADS) -------------------------------------------------------------------------

# What ADS's prepare() writes for a scikit-learn model, trimmed: load_model() opens the file next
# to score.py, adds its directory to sys.path, and predict's default argument loads the model when
# the module is imported.
ADS_SCORE = """
    import json
    import os
    import sys

    from joblib import load

    model_name = "model.joblib"


    def load_model(model_file_name=model_name):
        model_dir = os.path.dirname(os.path.realpath(__file__))
        if model_dir not in sys.path:
            sys.path.insert(0, model_dir)
        contents = os.listdir(model_dir)
        if model_file_name in contents:
            with open(os.path.join(model_dir, model_file_name), "rb") as file:
                return load(file)
        raise Exception(f"{model_file_name} is not found in model directory {model_dir}")


    def pre_inference(data):
        return json.loads(data) if isinstance(data, str) else data


    def predict(data, model=load_model()):
        pred = model.predict(pre_inference(data)).tolist()
        return {"prediction": pred}
"""


def test_ads_score_py_predicts_like_the_model(tmp_path: Path, classifier: LogisticRegression):
    joblib.dump(classifier, tmp_path / "model.joblib")
    write(tmp_path, {"score.py": ADS_SCORE})
    path_before = list(sys.path)
    spec = RuntimeSpec(flavor=Flavor.SKLEARN, entry_point="score.py", model_file="model.joblib")

    predictor = load_predictor(tmp_path, spec)

    assert predictor.predict(ROWS) == {"prediction": classifier.predict(np.array(ROWS)).tolist()}
    # the JSON string form ADS's pre_inference accepts works too: data reaches predict as sent
    assert predictor.predict("[[1.0, 0.0, -1.0, 0.0]]")["prediction"] == [1]
    assert sys.path == path_before  # load_model's sys.path.insert did not outlive the load
    assert predictor.flavor.flavor == Flavor.PYTHON  # the entry point serves, not the sklearn file


def test_predict_without_a_model_parameter_is_called_with_data_only(tmp_path: Path):
    write(
        tmp_path,
        {
            "score.py": """
                def load_model():
                    return "unused"

                def predict(data):
                    return [sum(row) for row in data]
            """
        },
    )
    predictor = load_predictor(tmp_path, RuntimeSpec(flavor=Flavor.PYTHON, entry_point="score.py"))
    assert predictor.predict([[1, 2], [3, 4.5]]) == [3, 7.5]


def test_numpy_answers_become_json(tmp_path: Path):
    write(
        tmp_path,
        {
            "score.py": """
                import numpy as np

                def load_model():
                    return np.float32(2.5)

                def predict(data, model=None):
                    return {"scaled": np.asarray(data) * model, "n": np.int64(len(data))}
            """
        },
    )
    predictor = load_predictor(tmp_path, RuntimeSpec(flavor=Flavor.PYTHON, entry_point="score.py"))
    assert predictor.predict([1, 2]) == {"scaled": [2.5, 5.0], "n": 2}


@pytest.mark.parametrize(
    ("source", "missing"),
    [
        ("def load_model():\n    return 1\n", "predict"),
        ("def predict(data, model=None):\n    return data\n", "load_model"),
    ],
)
def test_score_py_without_its_functions_names_the_missing_one(
    tmp_path: Path, source: str, missing: str
):
    write(tmp_path, {"score.py": source})
    with pytest.raises(InvalidArgument, match=rf"defines no {missing}\(\)") as raised:
        load_predictor(tmp_path, RuntimeSpec(flavor=Flavor.PYTHON, entry_point="score.py"))
    assert raised.value.field == "entry_point"


def test_a_missing_entry_point_says_which_file(tmp_path: Path):
    with pytest.raises(InvalidArgument, match=r"serve.py is missing"):
        load_predictor(tmp_path, RuntimeSpec(flavor=Flavor.PYTHON, entry_point="serve.py"))


def test_entry_point_outside_the_bundle_is_refused(tmp_path: Path):
    (tmp_path / "evil.py").write_text("def load_model(): pass\ndef predict(d, model=None): pass\n")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    with pytest.raises(InvalidArgument, match=r"not a .py file inside the bundle"):
        load_predictor(bundle, RuntimeSpec(flavor=Flavor.PYTHON, entry_point="../evil.py"))


def test_the_python_flavor_flags_pickled_model_files():
    impl = flavor(Flavor.PYTHON)
    assert "pickle" in impl.unsafe_format(RuntimeSpec(flavor="python", model_file="model.pkl"))
    assert impl.unsafe_format(RuntimeSpec(flavor="python", model_file="weights.npz")) is None


# -- isolation of bundle code --------------------------------------------------------------------


def _bundle_with_helpers(directory: Path, value: int) -> Path:
    """A score.py that imports two modules of its own, one absolute and one relative, both
    named like the other bundle's."""
    return write(
        directory,
        {
            "helpers.py": f"VALUE = {value}\n",
            "scaling.py": f"FACTOR = {value * 10}\n",
            "score.py": """
                import helpers
                from . import scaling

                def load_model():
                    return helpers.VALUE

                def predict(data, model=None):
                    return [model, scaling.FACTOR, helpers.VALUE]
            """,
        },
    )


def test_two_bundles_with_same_named_modules_do_not_share_them(tmp_path: Path):
    first = _bundle_with_helpers(tmp_path / "a", 1)
    second = _bundle_with_helpers(tmp_path / "b", 2)
    spec = RuntimeSpec(flavor=Flavor.PYTHON, entry_point="score.py")
    modules_before = set(sys.modules)

    one = load_predictor(first, spec)
    two = load_predictor(second, spec)

    assert one.predict(None) == [1, 10, 1]
    assert two.predict(None) == [2, 20, 2]
    # the bundles' modules left sys.modules under their own names; nothing else named helpers
    assert "helpers" not in sys.modules and "scaling" not in sys.modules
    added = set(sys.modules) - modules_before
    assert all(name.startswith("_modelyard_bundle_") for name in added), added
    # the same bundle loaded twice gets two independent copies of its module state
    again = load_predictor(first, spec)
    assert again.model.module is not one.model.module


def test_bundle_module_shadowing_an_installed_one_is_undone(tmp_path: Path):
    """A bundle's ``yaml.py`` wins inside the bundle; the real yaml is back afterwards."""
    import yaml

    write(
        tmp_path,
        {
            "yaml.py": "MINE = True\n",
            "score.py": """
                import yaml

                def load_model():
                    return yaml.MINE

                def predict(data, model=None):
                    return model
            """,
        },
    )
    predictor = load_predictor(tmp_path, RuntimeSpec(flavor=Flavor.PYTHON, entry_point="score.py"))
    assert predictor.predict(None) is True
    assert sys.modules["yaml"] is yaml


def test_bundle_code_runs_in_the_bundle_directory_while_loading(tmp_path: Path):
    write(
        tmp_path,
        {
            "labels.txt": "cat\ndog\n",
            "score.py": """
                with open("labels.txt") as f:  # relative to the bundle while loading
                    LABELS = f.read().split()

                def load_model():
                    with open("labels.txt") as f:
                        return f.read().split()

                def predict(data, model=None):
                    return [model[i] for i in data]
            """,
        },
    )
    cwd = os.getcwd()
    predictor = load_predictor(tmp_path, RuntimeSpec(flavor=Flavor.PYTHON, entry_point="score.py"))
    assert os.getcwd() == cwd
    assert predictor.predict([1, 0]) == ["dog", "cat"]
    assert predictor.model.module.LABELS == ["cat", "dog"]


def test_bundle_code_restores_state_when_the_code_fails(tmp_path: Path):
    write(
        tmp_path, {"helpers.py": "X = 1\n", "score.py": "import helpers\nraise RuntimeError('x')\n"}
    )
    cwd, path_before = os.getcwd(), list(sys.path)
    with pytest.raises(RuntimeError), bundle_code(tmp_path) as code:
        code.import_file("score.py")
    assert (os.getcwd(), sys.path, "helpers" in sys.modules) == (cwd, path_before, False)


# -- modelyard.yaml ------------------------------------------------------------------------------


def test_modelyard_yaml_round_trip(tmp_path: Path):
    spec = RuntimeSpec(
        flavor=Flavor.SKLEARN,
        model_file="model.skops",
        requirements=["scikit-learn==1.9.1"],
        python_version="3.11",
    )
    digest = "ab" * 32
    path = write_bundle(tmp_path, spec, {"model.skops": digest})

    assert path == tmp_path / SPEC_FILE
    assert read_bundle(tmp_path) == BundleFile(runtime=spec, sha256={"model.skops": digest})
    assert "entry_point" not in path.read_text()  # unset fields are left out of the file


def test_a_bundle_without_modelyard_yaml_declares_nothing(tmp_path: Path):
    assert read_bundle(tmp_path) == BundleFile()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("runtime: [1, 2]\n", "'runtime' must be a mapping"),
        ("runtime:\n  flavor: tensorflow\n", r"runtime\.flavor: Input should be"),
        ("runtime:\n  flavor: onnx\n  gpu: true\n", r"runtime\.gpu: Extra inputs"),
        ("sha256:\n  model.onnx: 1234\n", r"sha256\['model.onnx'\] must be 64 hex digits"),
        ("runtime: {flavor: onnx\n", "not valid YAML"),
        ("flavor: onnx\n", "unknown keys flavor"),
    ],
)
def test_malformed_modelyard_yaml_names_the_field(tmp_path: Path, text: str, message: str):
    (tmp_path / SPEC_FILE).write_text(text)
    with pytest.raises(InvalidArgument, match=message) as raised:
        read_bundle(tmp_path)
    assert raised.value.field.startswith(SPEC_FILE)


# -- Gesund ---------------------------------------------------------------------------------------

# Gesund's template, made self-contained: model.py with class GesundModel(model_path) and load(),
# the pre/post-processing classes it sets on itself (relative imports, as in the template), a
# loss it never serves with, reqs.txt and a pydantic response schema.
GESUND = {
    "__init__.py": """
        from .model import GesundModel
        from .schema import Response
    """,
    "model.py": """
        import joblib

        from .loss import MyLoss
        from .postprocess import Postprocess
        from .preprocess import Preprocess


        class GesundModel:
            def __init__(self, model_path) -> None:
                self.model_path = model_path
                self.preprocess = Preprocess()
                self.postprocess = Postprocess()
                self.loss = MyLoss()
                self.model = None

            def load(self):
                self.model = joblib.load(self.model_path)

            def predict(self, input):
                return self.model.predict_proba(input)
    """,
    "preprocess.py": """
        import numpy as np


        class Preprocess:
            def __call__(self, input, batch=False):
                return np.asarray(input, dtype=np.float64)
    """,
    "postprocess.py": """
        import numpy as np


        def custom_postprocess_fxn(model_output, batch=False, context=None):
            return [
                {
                    "prediction_class": int(np.argmax(row)),
                    "confidence": float(np.max(row)),
                    "logits": row.tolist(),
                    "status": 200,
                }
                for row in model_output
            ]


        class Postprocess:
            def __call__(self, input, batch=False, context=None):
                return custom_postprocess_fxn(input, batch, context)
    """,
    "loss.py": """
        import numpy as np


        class MyLoss:
            def calc_loss(self, y_pred, gts):
                return (-np.log(np.asarray(y_pred)[np.arange(len(gts)), gts])).tolist()
    """,
    "schema.py": """
        from pydantic import BaseModel


        class Response(BaseModel):
            prediction_class: int
            confidence: float
            logits: list[float]
    """,
    "reqs.txt": "scikit-learn\njoblib\npydantic>=2\n",
}


def test_gesund_bundle_predicts_like_the_model(tmp_path: Path, classifier: LogisticRegression):
    write(tmp_path, GESUND)
    joblib.dump(classifier, tmp_path / "classifier.joblib")
    spec = RuntimeSpec(flavor=Flavor.GESUND, model_file="classifier.joblib")

    answer = load_predictor(tmp_path, spec).predict(ROWS)

    proba = classifier.predict_proba(np.array(ROWS))
    assert answer == [
        {"prediction_class": int(p.argmax()), "confidence": float(p.max()), "logits": p.tolist()}
        for p in proba
    ]  # "status" is not in the schema, so it is not in the answer
    assert [a["prediction_class"] for a in answer] == classifier.predict(np.array(ROWS)).tolist()


def test_gesund_functions_in_modules_and_a_constructor_without_arguments(
    tmp_path: Path, classifier: LogisticRegression
):
    """The other half of the contract: GesundModel() with no argument, preprocess/postprocess as
    functions in their modules, absolute imports, one nested schema without the name Response."""
    write(
        tmp_path,
        {
            "model.py": """
                import os

                import joblib


                class GesundModel:
                    def __init__(self):
                        here = os.path.dirname(os.path.realpath(__file__))
                        self.model = joblib.load(os.path.join(here, "weights", "clf.joblib"))

                    def predict(self, data):
                        return self.model.predict(data)
            """,
            "preprocess.py": "def preprocess(data):\n    return data['rows']\n",
            "postprocess.py": """
                def postprocess(output):
                    return {"labels": [{"label": int(v)} for v in output], "count": len(output)}
            """,
            "schema.py": """
                from pydantic import BaseModel


                class Label(BaseModel):
                    label: int


                class Prediction(BaseModel):
                    labels: list[Label]
                    count: int
            """,
        },
    )
    (tmp_path / "weights").mkdir()
    joblib.dump(classifier, tmp_path / "weights" / "clf.joblib")

    answer = load_predictor(tmp_path, RuntimeSpec(flavor=Flavor.GESUND)).predict({"rows": ROWS})

    expected = classifier.predict(np.array(ROWS)).tolist()
    assert answer == {"labels": [{"label": v} for v in expected], "count": len(ROWS)}


def test_gesund_answer_that_breaks_the_schema_is_an_error_naming_it(
    tmp_path: Path, classifier: LogisticRegression
):
    files = dict(GESUND)
    files["schema.py"] = """
        from pydantic import BaseModel


        class Response(BaseModel):
            prediction_class: int
            confidence: float
            label: str
    """
    write(tmp_path, files)
    joblib.dump(classifier, tmp_path / "model.joblib")
    predictor = load_predictor(tmp_path, RuntimeSpec(flavor="gesund", model_file="model.joblib"))
    with pytest.raises(ModelError, match=r"schema.py's Response .*first at 0\.label: Field") as err:
        predictor.predict(ROWS)
    assert err.value.field == "output.0.label"  # the model's fault, not the request's


def test_gesund_model_py_without_the_class_says_what_to_define(tmp_path: Path):
    write(
        tmp_path, {"model.py": "class MyNet:\n    def predict(self, data):\n        return data\n"}
    )
    with pytest.raises(InvalidArgument, match="defines no class GesundModel"):
        load_predictor(tmp_path, RuntimeSpec(flavor=Flavor.GESUND))


def test_gesund_schema_with_several_candidates_asks_for_response(tmp_path: Path):
    write(
        tmp_path,
        {
            "model.py": """
                class GesundModel:
                    def predict(self, data):
                        return data
            """,
            "schema.py": """
                from pydantic import BaseModel

                class A(BaseModel):
                    a: int

                class B(BaseModel):
                    b: int
            """,
        },
    )
    with pytest.raises(InvalidArgument, match=r"named Response .*found A, B"):
        load_predictor(tmp_path, RuntimeSpec(flavor=Flavor.GESUND))


def test_an_azure_ml_script_gets_init_then_run_with_json_text(tmp_path: Path):
    write(
        tmp_path,
        {
            "score.py": """
                import json

                calls = []

                def init():
                    calls.append("init")

                def run(raw_data):
                    assert isinstance(raw_data, str)
                    calls.append("run")
                    return {"total": sum(json.loads(raw_data)["data"]), "calls": list(calls)}
            """
        },
    )
    predictor = load_predictor(tmp_path, RuntimeSpec(flavor=Flavor.PYTHON, entry_point="score.py"))
    assert predictor.predict({"data": [1, 2, 3.5]}) == {"total": 6.5, "calls": ["init", "run"]}
    assert predictor.predict({"data": [1]})["calls"] == ["init", "run", "run"]
