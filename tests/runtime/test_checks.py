"""The checks, run in this process on real bundles: each defect gets its FAIL (or WARN) with a
message that names the file, line or field and says what to do."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from textwrap import dedent

import pytest
from checks_support import EXAMPLE, JOBLIB_SCORE, SCORE, broken_score, save_model, score_bundle

from modelyard.domain.runtime import CheckResult, CheckStatus, Flavor, RuntimeSpec
from modelyard.runtime.checks import CHECKS, run_checks

DOCS = Path(__file__).parents[2] / "docs"
PASS, WARN, FAIL, SKIP = CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL, CheckStatus.SKIP


def check(bundle: Path, spec: RuntimeSpec | None = None, **kw: object) -> dict[str, CheckResult]:
    return {r.id: r for r in run_checks(bundle, spec, **kw)}  # type: ignore[arg-type]


def statuses(results: dict[str, CheckResult]) -> dict[str, CheckStatus]:
    return {k: r.status for k, r in results.items()}


def test_a_good_bundle_passes_every_check(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path / "good", files={"input_schema.json": "{}"})

    run = run_checks(bundle)
    results = {r.id: r for r in run}

    assert [r for r in results] == [c.id for c in CHECKS if not c.sandbox]
    assert not [r for r in results.values() if r.status in (FAIL, WARN)], results
    assert results["runtime.spec"].message == (
        "flavor sklearn, model file model.skops, entry point score.py, 2 requirements "
        "(detected from the files)"
    )
    assert (
        results["predict.example"].message == "predicted on input_example.json: a list of 2 items"
    )
    assert run.spec is not None and run.spec.entry_point == "score.py"
    assert run.input_schema is not None and run.input_schema["items"]["minItems"] == 4
    assert run.output_schema is not None and run.output_schema["items"] == {"type": "integer"}


def test_every_check_is_documented() -> None:
    doc = (DOCS / "runtime.md").read_text()

    missing = [c.id for c in CHECKS if f"`{c.id}`" not in doc]
    assert not missing, f"checks missing from docs/runtime.md: {missing}"


# -- the entry point ---------------------------------------------------------------------------


def test_missing_predict(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path, score=SCORE.split("def predict")[0])

    results = check(bundle)

    failed = results["entry_point.signatures"]
    assert failed.status == FAIL
    assert failed.message.startswith("score.py defines no predict(): add def predict(data, model=")
    assert results["model.loads"].status == SKIP
    assert results["model.loads"].message == "not run: entry_point.signatures failed"
    assert results["predict.example"].message == "not run: entry_point.signatures failed"


def test_syntax_error_names_file_line_and_code(tmp_path: Path) -> None:
    score = SCORE.replace("def predict(data, model=None):", "def predict(data model=None):")
    bundle = score_bundle(tmp_path, score=score)

    results = check(bundle)

    failed = results["entry_point.imports"]
    assert failed.status == FAIL
    line = score.splitlines().index("def predict(data model=None):") + 1
    assert failed.message.startswith(f"score.py line {line}, column ")
    assert "SyntaxError" in failed.message and "'def predict(data model=None):'" in failed.message
    assert "python -m py_compile score.py" in failed.message
    assert statuses(results)["entry_point.signatures"] == SKIP


def test_syntax_error_in_a_module_the_entry_point_imports(tmp_path: Path) -> None:
    score = "from helpers import double\n\n" + SCORE
    bundle = score_bundle(
        tmp_path, score=score, files={"helpers.py": "def double(x):\n  return x *\n"}
    )

    failed = check(bundle)["entry_point.imports"]

    assert failed.status == FAIL
    assert failed.message.startswith("helpers.py line 2, column ")


def test_import_error_says_to_add_the_package(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path, score="import no_such_package_xyz\n\n" + SCORE)

    failed = check(bundle)["entry_point.imports"]

    assert failed.status == FAIL
    assert failed.message == (
        "importing score.py failed: ModuleNotFoundError: No module named 'no_such_package_xyz' "
        "(score.py line 1, in <module>); add the package that provides "
        "'no_such_package_xyz' to requirements.txt"
    )


def test_signatures_that_cannot_be_called(tmp_path: Path) -> None:
    score = SCORE.replace("def load_model():", "def load_model(path):").replace(
        "def predict(data, model=None):", "def predict(data, scale, model=None):"
    )
    bundle = score_bundle(tmp_path, score=score)

    failed = check(bundle)["entry_point.signatures"]

    assert failed.status == FAIL
    assert "score.py line 8: load_model(path) needs arguments" in failed.message
    assert "score.py line 12: predict(data, scale, model=None) cannot be called" in failed.message


def test_predict_without_a_model_keyword_warns(tmp_path: Path) -> None:
    bundle = score_bundle(
        tmp_path,
        score=broken_score(
            """\
            def predict(data):
                return load_model().predict(data).tolist()
            """
        ),
    )

    results = check(bundle)

    warned = results["entry_point.signatures"]
    assert warned.status == WARN
    assert "predict(data) takes no 'model' keyword" in warned.message
    assert results["predict.example"].status == PASS  # it is called as predict(data)


def test_a_predict_that_raises(tmp_path: Path) -> None:
    bundle = score_bundle(
        tmp_path,
        score=broken_score(
            """\
            def predict(data, model=None):
                rows = [row[:3] for row in data]
                return model.predict(rows).tolist()
            """
        ),
    )

    results = check(bundle)

    failed = results["predict.example"]
    assert failed.status == FAIL
    assert failed.message.startswith(
        "predicting on input_example.json failed: ValueError: X has 3 features, but "
        "LogisticRegression is expecting 4 features as input."
    )
    assert "(score.py line 14, in predict)" in failed.message
    assert statuses(results)["predict.output_schema"] == SKIP


def test_an_answer_that_is_not_json(tmp_path: Path) -> None:
    score = broken_score(
        """\
        def predict(data, model=None):
            return {"labels": {1, 2}}
        """
    )
    bundle = score_bundle(tmp_path, score=score)

    failed = check(bundle)["predict.example"]

    assert failed.status == FAIL
    assert failed.message.startswith("predicting on input_example.json failed: TypeError")


def test_a_gesund_model_without_predict(tmp_path: Path) -> None:
    save_model(tmp_path / "model.joblib")
    (tmp_path / "model.py").write_text(
        dedent(
            """\
            import joblib


            class GesundModel:
                def __init__(self, model_path):
                    self.model = joblib.load(model_path)

                def infer(self, data):
                    return self.model.predict(data)
            """
        )
    )
    (tmp_path / "input_example.json").write_text(json.dumps(EXAMPLE))

    results = check(tmp_path)

    assert results["runtime.spec"].message.startswith("flavor gesund, model file model.joblib")
    failed = results["entry_point.signatures"]
    assert failed.status == FAIL
    assert failed.message.startswith("model.py: GesundModel has no predict(data) method")


# -- the model file ---------------------------------------------------------------------------


def test_missing_model_file_named_by_the_spec(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path, model_file=None)
    (bundle / "modelyard.yaml").write_text(
        "runtime:\n  flavor: sklearn\n  model_file: model.skops\n  entry_point: score.py\n"
    )

    results = check(bundle)

    failed = results["model_file.present"]
    assert failed.status == FAIL
    assert failed.message == (
        "model.skops (runtime.model_file) is missing from the bundle: add it, or set "
        "runtime.model_file in modelyard.yaml to the model file's path"
    )
    assert results["model.loads"].message == "not run: model_file.present failed"
    assert results["files.references"].status == FAIL
    assert "score.py line 5 names 'model.skops', which is not in the bundle" in (
        results["files.references"].message
    )


def test_missing_model_file_found_by_loading(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path, model_file=None)  # detected as python, no model file

    results = check(bundle)

    failed = results["model.loads"]
    assert failed.status == FAIL
    assert "FileNotFoundError" in failed.message
    assert "(score.py line 9, in load_model)" in failed.message
    assert "build its path from os.path.dirname(__file__)" in failed.message


def test_a_text_file_named_model_onnx(tmp_path: Path) -> None:
    """Detection reads the bytes and finds no model; the check says what the file is."""
    (tmp_path / "model.onnx").write_text("TODO: export the model here\n")

    results = check(tmp_path)

    failed = results["runtime.spec"]
    assert failed.status == FAIL
    assert failed.message.startswith(
        "model.onnx is a text file (first line: 'TODO: export the model here'), not an ONNX "
        "model: replace model.onnx with the saved model. no model recognized in the bundle"
    )
    assert results["model.loads"].message == "not run: runtime.spec failed"


def test_a_declared_model_file_in_the_wrong_format(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_text("TODO: export the model here\n")
    (tmp_path / "modelyard.yaml").write_text("runtime:\n  flavor: onnx\n  model_file: model.onnx\n")

    results = check(tmp_path)

    failed = results["model_file.format"]
    assert failed.status == FAIL
    assert failed.message == (
        "model.onnx is a text file (first line: 'TODO: export the model here'), not an ONNX "
        "model as its name and the onnx flavor call for: replace model.onnx with the saved model"
    )
    assert results["model.loads"].message == "not run: model_file.format failed"


def test_a_joblib_file_named_model_pt(tmp_path: Path) -> None:
    save_model(tmp_path / "model.pt")  # a joblib pickle

    failed = check(tmp_path)["runtime.spec"]

    assert failed.status == FAIL
    assert failed.message.startswith(
        "model.pt is a pickle (sklearn.linear_model._logistic.LogisticRegression), not "
    )
    assert "register it as a .joblib or .pkl file with the sklearn flavor" in failed.message


def test_a_torch_checkpoint_declared_as_torchscript(tmp_path: Path) -> None:
    import torch

    torch.save(torch.nn.Linear(4, 2).state_dict(), tmp_path / "model.pt")
    (tmp_path / "modelyard.yaml").write_text(
        "runtime:\n  flavor: torchscript\n  model_file: model.pt\n"
    )

    failed = check(tmp_path)["model_file.format"]

    assert failed.status == FAIL
    assert failed.message.startswith(
        "model.pt is a torch.save archive (a state_dict or a pickled module), not a TorchScript "
        "archive (torch.jit.save) as its name and the torchscript flavor call for: register it "
        "as a .pt file with the pytorch flavor (and runtime.model_class for a state_dict)"
    )


def test_a_git_lfs_pointer(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12345\n"
    )

    failed = check(tmp_path)["runtime.spec"]

    assert failed.status == FAIL
    assert failed.message.startswith("model.onnx is a Git LFS pointer, not an ONNX model: the ")
    assert "git lfs pull" in failed.message


def test_pickles_are_flagged(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path, score=JOBLIB_SCORE, model_file="model.joblib")

    results = check(bundle)

    warned = results["model_file.safe"]
    assert warned.status == WARN
    assert warned.message.startswith("model.joblib is a pickle")  # the sklearn flavor's words
    assert results["predict.example"].status == PASS


# -- declared facts ---------------------------------------------------------------------------


def test_declared_digests(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path)
    actual = hashlib.sha256((bundle / "model.skops").read_bytes()).hexdigest()
    (bundle / "modelyard.yaml").write_text(
        "runtime:\n  flavor: sklearn\n  model_file: model.skops\n  entry_point: score.py\n"
        f"sha256:\n  model.skops: {actual}\n  score.py: '{'0' * 64}'\n"
    )

    results = check(bundle, sha256={"input_example.json": "f" * 64})

    failed = results["files.sha256"]
    assert failed.status == FAIL
    assert (
        f"score.py: SHA-256 is {hashlib.sha256(SCORE.encode()).hexdigest()}, modelyard.yaml "
        f"declares {'0' * 64}; the file changed after its digest was recorded" in failed.message
    )
    assert "input_example.json: SHA-256 is" in failed.message
    assert "the registry declares ffff" in failed.message
    assert "model.skops" not in failed.message
    assert check(bundle, sha256={"model.skops": f"sha256:{actual}"})["files.sha256"].status == FAIL
    (bundle / "modelyard.yaml").write_text(f"sha256:\n  model.skops: {actual}\n")
    assert check(bundle)["files.sha256"].status == PASS


@pytest.mark.parametrize(
    ("declared", "status", "start"),
    [
        (">=3.10", PASS, "Python 3."),
        (">=3.99", FAIL, "the bundle needs Python >=3.99, but Python 3."),
        ("2.7", FAIL, "the bundle needs Python 2.7, but Python 3."),
        ("3.8", WARN, "the bundle was made with Python 3.8 and runs on Python 3."),
        ("three", FAIL, "runtime.python_version 'three' is neither a version"),
    ],
)
def test_python_version(tmp_path: Path, declared: str, status: CheckStatus, start: str) -> None:
    bundle = score_bundle(tmp_path)
    spec = RuntimeSpec(
        flavor=Flavor.SKLEARN,
        model_file="model.skops",
        entry_point="score.py",
        python_version=declared,
    )

    result = check(bundle, spec)["python.version"]

    assert (result.status, result.message[: len(start)]) == (status, start)


def test_a_requirement_that_does_not_parse(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path, requirements=["skops>=0.10", "scikit-learn=>1.4"])

    results = check(bundle)

    failed = results["requirements.parse"]
    assert failed.status == FAIL
    assert failed.message.startswith("requirements.txt line 2: 'scikit-learn=>1.4': ")
    assert failed.message.endswith(
        "write each as NAME, NAME==1.2 or NAME>=1.2 (PEP 508), one per line"
    )
    assert results["requirements.satisfied"].message == "not run: requirements.parse failed"


def test_an_unsatisfiable_requirement(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path, requirements=["scikit-learn==0.0.1"])

    failed = check(bundle)["requirements.satisfied"]

    assert failed.status == FAIL
    assert failed.message.startswith("the requirements cannot be installed: No solution found")
    assert "there is no version of scikit-learn==0.0.1" in failed.message


def test_requirements_that_resolve_but_are_not_installed(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path, requirements=["scikit-learn>=1.4", "tomli-w==1.0.0"])

    warned = check(bundle)["requirements.satisfied"]

    assert warned.status == WARN
    assert warned.message.startswith(
        "not installed where the checks ran: tomli-w==1.0.0 (not installed); they resolve"
    )


def test_an_unreachable_index_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    monkeypatch.setenv("UV_NO_CACHE", "1")
    bundle = score_bundle(tmp_path, requirements=["scikit-learn==0.0.1"])

    warned = check(bundle)["requirements.satisfied"]

    assert warned.status == WARN
    assert "could not be checked (the package index could not be reached: " in warned.message
    assert "127.0.0.1:9" in warned.message


# -- schemas and the example ------------------------------------------------------------------


def test_an_invalid_schema_file(tmp_path: Path) -> None:
    bundle = score_bundle(
        tmp_path,
        files={
            "input_schema.json": '{"type": "array", "items": {"type": "float"}}',
            "output_schema.json": '{"type": "array",}',
        },
    )

    results = check(bundle)

    failed = results["schema.valid"]
    assert failed.status == FAIL
    assert "input_schema.json: schema.items.type: 'float' is not one of" in failed.message
    assert "output_schema.json: line 1, column 18: Expecting property name" in failed.message
    assert results["predict.output_schema"].message == "not run: schema.valid failed"
    assert results["predict.example"].status == PASS


def test_an_example_that_does_not_match_the_input_schema(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path, example=[[0.1, 0.2, "0.3", 0.4]])
    schema = {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}

    results = check(bundle, input_schema=schema)

    failed = results["example.valid"]
    assert failed.message == (
        "input_example.json does not match the version's input schema: example[0][2]: "
        "expected number, got string; fix the example or the schema"
    )
    assert results["predict.example"].message == "not run: example.valid failed"


def test_an_answer_that_does_not_match_the_output_schema(tmp_path: Path) -> None:
    bundle = score_bundle(
        tmp_path, files={"output_schema.json": '{"type": "array", "items": {"type": "string"}}'}
    )

    failed = check(bundle)["predict.output_schema"]

    assert failed.status == FAIL
    assert failed.message.startswith(
        "the answer does not match output_schema.json: output[0]: expected string, got integer"
    )


def test_an_example_that_is_not_json(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path, example=None, files={"input_example.json": "[[1, 2,]]"})

    failed = check(bundle)["example.valid"]

    assert failed.message == "input_example.json: line 1, column 8: Expecting value; fix the JSON"


def test_no_example_skips_prediction_with_advice(tmp_path: Path) -> None:
    bundle = score_bundle(tmp_path, example=None)

    results = check(bundle)

    assert results["example.valid"].status == SKIP
    assert "add input_example.json" in results["example.valid"].message
    assert results["model.loads"].status == PASS
    assert results["predict.example"].status == SKIP


# -- what the code refers to ------------------------------------------------------------------


def test_absolute_paths_and_missing_files(tmp_path: Path) -> None:
    score = SCORE.replace(
        'MODEL_FILE = os.path.join(os.path.dirname(__file__), "model.skops")',
        'MODEL_FILE = "/home/alice/project/model.skops"\nLABELS = "labels.txt"\n'
        'URL = "/api/v1/predict"\nOUT = f"/home/{os.getlogin}/x.json"',
    )
    score += '\n\nif __name__ == "__main__":\n    open("train.csv")\n'
    bundle = score_bundle(tmp_path, score=score)

    results = check(bundle)

    failed = results["files.references"]
    assert failed.status == FAIL
    messages = failed.message.split("; ")
    assert messages[0] == (
        "score.py line 6 names 'labels.txt', which is not in the bundle: add the file, or fix "
        "the name"
    )
    assert messages[1].startswith(
        "score.py line 5: absolute path '/home/alice/project/model.skops'"
    )
    assert "the bundle has model.skops: build its path from the code's own directory" in (
        failed.message
    )
    assert "api/v1" not in failed.message and "train.csv" not in failed.message


def test_absolute_paths_alone_warn(tmp_path: Path) -> None:
    score = SCORE + '\n\nCACHE = "/tmp/cache/embeddings.npy"\n'
    bundle = score_bundle(tmp_path, score=score)

    warned = check(bundle)["files.references"]

    assert warned.status == WARN
    assert re.match(
        r"score\.py line \d+: absolute path '/tmp/cache/embeddings.npy'; that path", warned.message
    )


def test_a_bundle_with_nothing_recognizable(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("nothing here")

    results = check(tmp_path)

    failed = results["runtime.spec"]
    assert failed.status == FAIL
    assert failed.message.startswith("no model recognized in the bundle")
    skipped = [k for k, r in results.items() if r.message == "not run: runtime.spec failed"]
    assert "model.loads" in skipped and "python.version" in skipped


@pytest.mark.parametrize(
    ("source", "status", "says"),
    [
        (
            "def init():\n    pass\n\ndef run(raw_data):\n    return raw_data\n",
            CheckStatus.PASS,
            "score.py defines init() and run(raw_data)",
        ),
        (
            "def run(raw_data):\n    return raw_data\n",
            CheckStatus.FAIL,
            "defines run() but no init()",
        ),
        (
            "def init(path):\n    pass\n\ndef run(raw_data):\n    return raw_data\n",
            CheckStatus.FAIL,
            "init(path) needs arguments",
        ),
        (
            "def init():\n    pass\n\ndef run(raw_data, extra):\n    return raw_data\n",
            CheckStatus.FAIL,
            "cannot be called as run(raw_data)",
        ),
    ],
)
def test_azure_ml_style_scripts_are_checked_for_init_and_run(
    tmp_path: Path, source: str, status: CheckStatus, says: str
):
    (tmp_path / "score.py").write_text(source)
    result = check(tmp_path)["entry_point.signatures"]
    assert (result.status, says in result.message) == (status, True), result.message
