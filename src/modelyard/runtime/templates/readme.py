"""The README.md of each template: which model file to drop in, in what format, with which
tensor contract, and how to check and register the bundle."""

from __future__ import annotations

from modelyard.runtime.templates.catalog import DEFAULT, Architecture, Framework, Layout, Task
from modelyard.runtime.templates.contracts import describe_input, describe_output

_MODEL_INPUT = {
    Layout.FEATURES: "float rows (N, F)",
    Layout.IMAGES: "float images (N, C, H, W)",
    Layout.IMAGES_HWC: "float images (N, H, W, C)",
    Layout.TEXT: "int64 token ids (N, L) made by `tokenize()` in score.py (0 pads, 1 starts "
    "each text; replace `tokenize()` with your model's tokenizer)",
}


def model_output(task: Task, layout: Layout, script: str = "score.py") -> str:
    """What the model must return, in the README's words; ``script`` holds the constants."""
    if task == Task.CLASSIFICATION:
        return (
            "class scores (N, K) as its first output: logits, or probabilities when "
            "`MODEL_RETURNS_LOGITS = False`; a binary model may return one score (N, 1)"
        )
    if task == Task.REGRESSION:
        return "the predictions as its first output: (N,) or (N, 1), or (N, T) for T targets"
    if task == Task.OBJECT_DETECTION:
        return (
            "three outputs, in this order: boxes (N, D, 4) as x1, y1, x2, y2 in pixels, scores "
            f"(N, D) and class indices (N, D), for D candidate boxes per image ({script} keeps "
            "those above `SCORE_THRESHOLD` and drops overlapping ones by `IOU_THRESHOLD`)"
        )
    if task == Task.SEGMENTATION:
        shape = "(N, H, W, K)" if layout == Layout.IMAGES_HWC else "(N, K, H, W)"
        return (
            f"class scores {shape} as its first output (a single class channel is read as a "
            "binary model's positive class)"
        )
    return (
        "one vector per text (N, D) as its first output, or one per token (N, L, D), which "
        f"{script} averages over each text's tokens"
    )


def _sklearn_contract(task: Task) -> str:
    return {
        Task.CLASSIFICATION: "a fitted classifier (or Pipeline) taking rows of F features: "
        "`predict`, and `predict_proba` for the probabilities; its `classes_` are the labels",
        Task.REGRESSION: "a fitted regressor (or Pipeline) taking rows of F features",
        Task.SEGMENTATION: "a fitted pixel classifier: it sees one row of C channel values per "
        "pixel and predicts the pixel's class index (an integer)",
        Task.TEXT_EMBEDDING: "a fitted transformer (or Pipeline) whose `transform` takes a list "
        "of strings and returns one vector per string, e.g. `make_pipeline(TfidfVectorizer(), "
        "TruncatedSVD(64))`",
    }[task]


def _npz_contract(task: Task) -> str:
    return {
        Task.CLASSIFICATION: "`weights` (F, K) and `bias` (K,): `forward()` in score.py "
        "computes logits = features @ weights + bias",
        Task.REGRESSION: "`weights` (F,) or (F, T) and `bias`: `forward()` in score.py "
        "computes features @ weights + bias",
        Task.SEGMENTATION: "`weights` (C, K) and `bias` (K,): `forward()` in score.py scores "
        "every pixel's channels (a 1x1 convolution)",
        Task.TEXT_EMBEDDING: "`embeddings` (VOCAB_SIZE, D): `forward()` in score.py picks a "
        "row per token id, averaged over the text",
    }[task]


def save_snippet(task: Task, framework: Framework, arch: Architecture) -> str:
    name = arch.model_file
    if framework == Framework.SKLEARN:
        return f'import skops.io\n\nskops.io.dump(estimator, "{name}")'
    if framework == Framework.ONNX:
        outputs = '["boxes", "scores", "labels"]' if task == Task.OBJECT_DETECTION else '["output"]'
        return (
            "# from PyTorch; tf2onnx, skl2onnx and others write the same format.\n"
            "# Keep the batch dimension dynamic.\n"
            "torch.onnx.export(\n"
            "    model,\n"
            "    (example,),\n"
            f'    "{name}",\n'
            '    input_names=["input"],\n'
            f"    output_names={outputs},\n"
            '    dynamic_axes={"input": {0: "batch"}},\n'
            ")"
        )
    if framework == Framework.KERAS:
        return f'model.save("{name}")'
    if framework == Framework.PYTHON:
        arrays = {
            Task.CLASSIFICATION: "weights=weights, bias=bias",
            Task.REGRESSION: "weights=weights, bias=bias",
            Task.SEGMENTATION: "weights=weights, bias=bias",
            Task.TEXT_EMBEDDING: "embeddings=embeddings",
        }[task]
        return f'import numpy as np\n\nnp.savez("{name}", {arrays})'
    if arch.model_class:
        cls = arch.model_class.partition(":")[2]
        return (
            f"from model import {cls}\n\nmodel = {cls}()\n# ... train it ...\n"
            f'torch.save(model.state_dict(), "{name}")'
        )
    return (
        f'torch.jit.script(model).save("{name}")  '
        f'# or torch.jit.trace(model, example).save("{name}")'
    )


def model_format(framework: Framework, arch: Architecture) -> str:
    if framework == Framework.PYTORCH and arch.model_class:
        return (
            f"the `state_dict` of `{arch.model_class.partition(':')[2]}` in `model.py`, saved "
            "with `torch.save` (loaded with `weights_only=True`: no pickled code runs). Set the "
            "sizes at the top of model.py to those of your network"
        )
    if framework == Framework.PYTORCH:
        return (
            "a TorchScript archive. (PyTorch deprecates TorchScript; the named architectures "
            "of `modelyard template --list` load a `state_dict` instead)"
        )
    return arch.description


def readme(
    task: Task, framework: Framework, arch: Architecture, command: str, tunables: list[str]
) -> str:
    """The README.md text; ``command`` is the ``modelyard template`` call that made it,
    ``tunables`` the constants of its score.py meant to be edited."""
    layout = arch.input
    if framework == Framework.SKLEARN:
        contract = f"The estimator must be {_sklearn_contract(task)}."
    elif framework == Framework.PYTHON:
        contract = f"The file holds {_npz_contract(task)}. Edit `forward()` for other models."
    else:
        contract = (
            f"The model takes {_MODEL_INPUT[layout]} as its first input and returns "
            f"{model_output(task, layout)}."
        )
    title = f"{task} · {framework}" + ("" if arch.name == DEFAULT else f" · {arch.name}")
    files = [
        (
            "score.py",
            "`load_model()` and `predict(data, model=...)`: pre-processing, the "
            "model call, post-processing. Imports only numpy and the framework",
        ),
    ]
    if arch.model_class:
        files.append(("model.py", f"the network class `{arch.model_class.partition(':')[2]}`"))
    files += [
        (arch.model_file, "**your model: not included, drop it in**"),
        (
            "modelyard.yaml",
            f"the runtime spec: flavor `{arch.flavor}`, entry point, model file, example",
        ),
        ("requirements.txt", "the packages score.py needs"),
        ("input_example.json", "an example request, run by the checks"),
        ("input_schema.json", "JSON Schema of a request"),
        ("output_schema.json", "JSON Schema of an answer"),
    ]
    table = "\n".join(f"| `{path}` | {what} |" for path, what in files)
    sklearn = framework == Framework.SKLEARN
    request = f"- Request (`input_example.json`, `input_schema.json`): {describe_input(layout)}."
    if layout != Layout.TEXT:
        request += " For other sizes, replace `input_example.json` with a request your model takes."
    contract_items = [
        request,
        f"- Answer (`output_schema.json`): {describe_output(task, sklearn=sklearn)}.",
    ]
    if tunables:
        names = ", ".join(f"`{name}`" for name in tunables)
        contract_items.append(f"- Constants at the top of `score.py` to fit your model: {names}.")
    sections = [
        f"# {title}",
        f"A modelyard bundle made by `{command}`. Once your model file is in place, it passes "
        "`modelyard verify`.",
        "## 1. Drop in your model",
        f"Save your model as **`{arch.model_file}`** in this directory: "
        f"{model_format(framework, arch)}.",
        f"```python\n{save_snippet(task, framework, arch)}\n```",
        contract,
        "## 2. Check it and register it",
        "```bash\nmodelyard verify .\nmodelyard push NS/NAME . --version 1.0.0 --finish\n```",
        "## The contract",
        "\n".join(contract_items),
        "## Files",
        f"| file | what it is |\n|---|---|\n{table}",
    ]
    return "\n\n".join(sections) + "\n"
