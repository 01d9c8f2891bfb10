"""Detection: the runtime spec of every bundle layout, read from the files without running them.

Model files are real (a joblib'd estimator, an ONNX graph, a TorchScript archive, a torch.save
state_dict), written here. Bundle code that detection must not run leaves a trace if it is run.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import joblib
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from sklearn.linear_model import LinearRegression

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import InvalidArgument
from modelyard.runtime.bundle import defines_class, write_bundle
from modelyard.runtime.detect import completed, detect, is_torchscript


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return directory


def joblib_model(path: Path) -> Path:
    joblib.dump(LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0]), path)
    return path


def onnx_model(path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
    )
    onnx.save(helper.make_model(graph), path)
    return path


def torchscript_model(path: Path) -> Path:
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript; such archives are still what people register
        warnings.filterwarnings("ignore", r".*torch\.jit\.\w+` is deprecated", DeprecationWarning)
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 1)), path)
    return path


def state_dict(path: Path) -> Path:
    torch.save(torch.nn.Linear(2, 1).state_dict(), path)
    return path


# Code that must never run during detection: importing it leaves ran.txt behind.
TRAP = textwrap.dedent(
    """
    from pathlib import Path

    Path(__file__).with_name("ran.txt").write_text("detection ran bundle code")
    raise SystemExit("detection must not import bundle code")
    """
)


# -- one model file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("model.joblib", joblib_model, Flavor.SKLEARN),
        ("model.onnx", onnx_model, Flavor.ONNX),
        ("model.pt", torchscript_model, Flavor.TORCHSCRIPT),
        ("weights.pth", state_dict, Flavor.PYTORCH),
    ],
)
def test_a_model_file_alone_is_detected_by_its_format(tmp_path, name, make, expected):
    make(tmp_path / name)
    spec = detect(tmp_path)
    assert (spec.flavor, spec.model_file, spec.entry_point) == (expected, name, None)


def test_torchscript_and_torch_save_archives_are_told_apart(tmp_path: Path):
    assert is_torchscript(torchscript_model(tmp_path / "scripted.pt"))
    assert not is_torchscript(state_dict(tmp_path / "weights.pt"))
    assert not is_torchscript(joblib_model(tmp_path / "model.pt"))  # not a zip at all


# -- score.py --------------------------------------------------------------------------------------


def test_score_py_with_an_onnx_model_serves_through_the_entry_point(tmp_path: Path):
    """Ambiguous at first sight (a script and a framework file): the entry point serves, the
    ONNX file says how the model is stored."""
    onnx_model(tmp_path / "model.onnx")
    write(tmp_path, {"score.py": TRAP, "requirements.txt": "onnxruntime>=1.18\nnumpy\n"})

    spec = detect(tmp_path)

    assert spec == RuntimeSpec(
        flavor=Flavor.ONNX,
        entry_point="score.py",
        model_file="model.onnx",
        requirements=["onnxruntime>=1.18", "numpy"],
    )
    assert not (tmp_path / "ran.txt").exists()


@pytest.mark.parametrize("pickle", ["model.pkl", "generic.pkl"])
def test_score_py_with_a_pickle_is_the_python_flavor(tmp_path: Path, pickle: str):
    """ADS's GenericModel: a cloudpickle the script loads, not a scikit-learn model file (which
    a .pkl alone would be)."""
    write(tmp_path, {"score.py": TRAP, pickle: "not read"})
    assert detect(tmp_path) == RuntimeSpec(
        flavor=Flavor.PYTHON, entry_point="score.py", model_file=pickle
    )


def test_score_py_alone_is_the_python_flavor(tmp_path: Path):
    write(tmp_path, {"score.py": TRAP, "input_example.json": "[[1, 2]]"})
    assert detect(tmp_path) == RuntimeSpec(
        flavor=Flavor.PYTHON, entry_point="score.py", example="input_example.json"
    )
    assert not (tmp_path / "ran.txt").exists()


# -- Gesund --------------------------------------------------------------------------------------


def test_gesund_bundle_is_detected_from_its_class_without_running_it(tmp_path: Path):
    write(
        tmp_path,
        {
            "model.py": TRAP
            + "\n\nclass GesundModel:\n    def predict(self, data):\n        return 1\n",
            "preprocess.py": TRAP,
            "schema.py": "from pydantic import BaseModel\n",
            "reqs.txt": "# Gesund's\nscikit-learn>=1.4\npydantic>=2  # output schema\n",
        },
    )
    joblib_model(tmp_path / "classifier.joblib")

    spec = detect(tmp_path)

    assert spec == RuntimeSpec(
        flavor=Flavor.GESUND,
        model_file="classifier.joblib",
        requirements=["scikit-learn>=1.4", "pydantic>=2"],
    )
    assert not (tmp_path / "ran.txt").exists()


def test_model_py_without_gesund_model_is_not_gesund(tmp_path: Path):
    write(tmp_path, {"model.py": "class MyNet:\n    pass\n"})
    joblib_model(tmp_path / "model.joblib")
    assert detect(tmp_path).flavor == Flavor.SKLEARN


def test_defines_class_reads_the_syntax_tree_only(tmp_path: Path):
    path = tmp_path / "model.py"
    path.write_text("if True:\n    class GesundModel: pass\n")  # not at the top level
    assert not defines_class(path, "GesundModel")
    path.write_text("class GesundModel(\n")  # does not parse
    assert not defines_class(path, "GesundModel")
    path.write_text("import os\n\nclass GesundModel(object):\n    pass\n")
    assert defines_class(path, "GesundModel")


# -- modelyard.yaml --------------------------------------------------------------------------------


def test_modelyard_yaml_overrides_detection_and_files_fill_the_rest(tmp_path: Path):
    """score.py and model.onnx would detect as onnx + entry point; modelyard.yaml says sklearn.
    Its unset environment fields come from the files, its set ones stay."""
    joblib_model(tmp_path / "model.joblib")
    onnx_model(tmp_path / "model.onnx")
    write(
        tmp_path,
        {
            "score.py": TRAP,
            "requirements.txt": "scikit-learn\n",
            "environment.yml": "dependencies:\n  - python=3.12\n",
        },
    )
    write_bundle(
        tmp_path,
        RuntimeSpec(flavor=Flavor.SKLEARN, model_file="model.joblib", python_version=">=3.11"),
    )

    assert detect(tmp_path) == RuntimeSpec(
        flavor=Flavor.SKLEARN,
        model_file="model.joblib",
        python_version=">=3.11",
        requirements=["scikit-learn"],
        conda_env="environment.yml",
    )


def test_modelyard_yaml_needs_no_recognizable_files(tmp_path: Path):
    write(tmp_path, {"serve.py": TRAP, "weights.bin": "x"})
    write_bundle(tmp_path, RuntimeSpec(flavor=Flavor.PYTHON, entry_point="serve.py"))
    assert detect(tmp_path) == RuntimeSpec(flavor=Flavor.PYTHON, entry_point="serve.py")


# -- nothing, or too much -------------------------------------------------------------------------


def test_nothing_recognizable_names_what_was_looked_for(tmp_path: Path):
    write(tmp_path, {"README.md": "my model\n", "data/train.csv": "a,b\n"})
    with pytest.raises(InvalidArgument) as raised:
        detect(tmp_path)
    message = raised.value.message
    for looked_for in ("modelyard.yaml", "MLmodel", "class GesundModel", "score.py", "*.onnx"):
        assert looked_for in message
    assert "found README.md, data/train.csv" in message
    assert raised.value.field == "files"


def test_an_empty_bundle_says_it_found_no_files(tmp_path: Path):
    with pytest.raises(InvalidArgument, match="found no files"):
        detect(tmp_path)


def test_two_model_files_named_model_are_ambiguous(tmp_path: Path):
    joblib_model(tmp_path / "model.joblib")
    onnx_model(tmp_path / "model.onnx")
    with pytest.raises(InvalidArgument, match=r"several model files") as raised:
        detect(tmp_path)
    assert "model.joblib (sklearn)" in raised.value.message
    assert "model.onnx (onnx)" in raised.value.message
    assert "runtime.model_file" in raised.value.message


def test_the_file_named_model_wins_over_other_model_files(tmp_path: Path):
    joblib_model(tmp_path / "model.joblib")
    joblib_model(tmp_path / "scaler.joblib")
    assert detect(tmp_path).model_file == "model.joblib"


def test_two_mlflow_models_are_ambiguous(tmp_path: Path):
    write(tmp_path, {"a/MLmodel": "flavors: {}\n", "b/MLmodel": "flavors: {}\n"})
    with pytest.raises(InvalidArgument, match=r"several MLflow models .*a/MLmodel, b/MLmodel"):
        detect(tmp_path)


# -- the environment -------------------------------------------------------------------------------


def test_conda_yaml_gives_pip_requirements_and_python(tmp_path: Path):
    onnx_model(tmp_path / "model.onnx")
    write(
        tmp_path,
        {
            "conda.yaml": """
                name: inference
                channels: [conda-forge]
                dependencies:
                  - python=3.10.12
                  - numpy=1.26
                  - pip
                  - pip:
                      - onnxruntime==1.18.0
                      - --extra-index-url https://example.invalid/simple
            """
        },
    )
    spec = detect(tmp_path)
    assert (spec.conda_env, spec.python_version) == ("conda.yaml", "3.10")
    assert spec.requirements == ["onnxruntime==1.18.0"]  # conda packages are conda's


def test_requirements_txt_comments_options_and_includes(tmp_path: Path):
    onnx_model(tmp_path / "model.onnx")
    write(
        tmp_path,
        {
            "requirements.txt": """
                # serving
                --index-url https://example.invalid/simple
                -r base.txt
                onnxruntime>=1.18 ; python_version >= "3.10"  # the runtime
                -r requirements.txt
            """,
            "base.txt": "numpy>=1.26\n-r requirements.txt\n",
        },
    )
    assert detect(tmp_path).requirements == [
        "numpy>=1.26",
        'onnxruntime>=1.18 ; python_version >= "3.10"',
    ]


def test_ads_runtime_yaml_gives_the_python_version(tmp_path: Path):
    joblib_model(tmp_path / "model.joblib")
    write(
        tmp_path,
        {
            "score.py": TRAP,
            "runtime.yaml": """
                MODEL_ARTIFACT_VERSION: '3.0'
                MODEL_DEPLOYMENT:
                  INFERENCE_CONDA_ENV:
                    INFERENCE_ENV_SLUG: generalml_p38_cpu_v1
                    INFERENCE_ENV_TYPE: data_science
                    INFERENCE_PYTHON_VERSION: '3.8'
            """,
        },
    )
    spec = detect(tmp_path)
    assert (spec.flavor, spec.entry_point, spec.python_version) == ("sklearn", "score.py", "3.8")


@pytest.mark.parametrize(
    ("dockerfile", "image"),
    [
        ("FROM python:3.11-slim\nRUN pip install onnxruntime\n", "python:3.11-slim"),
        (
            "FROM --platform=linux/amd64 nvcr.io/nvidia/pytorch:24.01-py3 AS build\n"
            "RUN make\nFROM build\nCOPY . /app\n",
            "nvcr.io/nvidia/pytorch:24.01-py3",
        ),
        ("ARG BASE=python:3.11\nFROM ${BASE}\n", None),
    ],
)
def test_dockerfile_gives_the_base_image(tmp_path: Path, dockerfile: str, image: str | None):
    onnx_model(tmp_path / "model.onnx")
    (tmp_path / "Dockerfile").write_text(dockerfile)
    assert detect(tmp_path).docker_image == image


def test_hidden_files_and_caches_are_not_the_bundle(tmp_path: Path):
    onnx_model(tmp_path / "model.onnx")
    for hidden in (".git", "__pycache__"):
        (tmp_path / hidden).mkdir()
        joblib_model(tmp_path / hidden / "model.joblib")
    assert detect(tmp_path).model_file == "model.onnx"


def test_a_given_spec_takes_its_environment_from_the_conda_file_it_names(tmp_path: Path):
    write(
        tmp_path,
        {
            "env/deps.yml": """
                name: serving
                dependencies:
                  - python=3.11
                  - pip:
                    - scikit-learn>=1.4
                    - joblib
            """,
            "requirements.txt": "numpy\n",
            "serve.py": "def init():\n    pass\n",
        },
    )
    spec = RuntimeSpec(flavor=Flavor.PYTHON, entry_point="serve.py", conda_env="env/deps.yml")
    done = completed(spec, tmp_path)
    assert done.requirements == ["scikit-learn>=1.4", "joblib"]  # the named file wins
    assert done.python_version == "3.11"
    pinned = spec.model_copy(update={"requirements": ["torch"]})
    assert completed(pinned, tmp_path).requirements == ["torch"]  # what is given stays
    plain = RuntimeSpec(flavor=Flavor.PYTHON, entry_point="serve.py")
    assert completed(plain, tmp_path).requirements == ["numpy"]
