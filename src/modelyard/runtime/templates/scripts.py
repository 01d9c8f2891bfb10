"""The ``score.py`` of each template, put together from the framework's loading code and the
task's pre- and post-processing.

The script follows the ADS convention (``load_model()`` and ``predict(data, model=...)``) and
imports only numpy and the framework, never modelyard, so it runs wherever its
requirements are installed. Every framework but scikit-learn runs the same steps:
``preprocess`` (JSON to an array) → ``forward`` (the framework) → ``postprocess`` (arrays to
the task's answer); scikit-learn estimators answer with ``predict``, ``predict_proba`` or
``transform`` instead.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from modelyard.runtime.templates.catalog import Architecture, Framework, Layout, Task
from modelyard.runtime.templates.contracts import describe_input, summarize_output

_FRAMEWORK_WORDS = {
    Framework.SKLEARN: "scikit-learn",
    Framework.ONNX: "ONNX, onnxruntime",
    Framework.PYTORCH: "PyTorch",
    Framework.KERAS: "Keras 3 on the torch backend",
    Framework.PYTHON: "numpy",
}

_IMPORTS = {
    Framework.SKLEARN: ["import numpy as np", "import skops.io"],
    Framework.ONNX: ["import numpy as np", "import onnxruntime"],
    Framework.PYTORCH: ["import numpy as np", "import torch"],
    Framework.KERAS: [
        "import numpy as np",
        "",
        'os.environ.setdefault("KERAS_BACKEND", "torch")',
        "",
        "import keras  # noqa: E402  (the backend is chosen before keras is imported)",
    ],
    Framework.PYTHON: ["import numpy as np"],
}

# -- loading ----------------------------------------------------------------------------------

_LOAD_SKOPS = '''\
def load_model(model_file_name: str = MODEL_FILE) -> Any:
    """The estimator saved with ``skops.io.dump``: loading runs no pickled code, and a type
    outside skops' trusted defaults and TRUSTED_TYPES is refused with its name."""
    return skops.io.load(os.path.join(HERE, model_file_name), trusted=TRUSTED_TYPES)'''

_LOAD_ONNX = '''\
def load_model(model_file_name: str = MODEL_FILE) -> Any:
    """An onnxruntime session on the ONNX graph, on the CPU."""
    return onnxruntime.InferenceSession(
        os.path.join(HERE, model_file_name), providers=["CPUExecutionProvider"]
    )'''

_LOAD_TORCHSCRIPT = '''\
def load_model(model_file_name: str = MODEL_FILE) -> Any:
    """The TorchScript module, on the CPU, in eval mode."""
    model = torch.jit.load(os.path.join(HERE, model_file_name), map_location="cpu")
    return model.eval()'''

_LOAD_STATE_DICT = '''\
def load_model(model_file_name: str = MODEL_FILE) -> Any:
    """The NETWORK class of model.py with the state_dict loaded into it (weights only: no
    pickled code runs), on the CPU, in eval mode."""
    spec = importlib.util.spec_from_file_location("model", os.path.join(HERE, "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    network = getattr(module, NETWORK)()
    path = os.path.join(HERE, model_file_name)
    network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return network.eval()'''

_LOAD_KERAS = '''\
def load_model(model_file_name: str = MODEL_FILE) -> Any:
    """The Keras model (safe mode: a Lambda layer's code is refused, not run)."""
    return keras.saving.load_model(os.path.join(HERE, model_file_name))'''

_LOAD_NPZ = '''\
def load_model(model_file_name: str = MODEL_FILE) -> Any:
    """The arrays of the .npz file by name (allow_pickle=False: plain numbers only)."""
    with np.load(os.path.join(HERE, model_file_name), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}'''

# -- forward: the framework runs the model ------------------------------------------------------

_FORWARD_ONNX = '''\
def forward(model: Any, inputs: np.ndarray) -> list[np.ndarray]:
    """Run the graph: ``inputs`` feeds its first input; all its outputs come back, in order."""
    name = model.get_inputs()[0].name
    return [np.asarray(output) for output in model.run(None, {name: inputs})]'''

_FORWARD_TORCH = '''\
def forward(model: Any, inputs: np.ndarray) -> list[np.ndarray]:
    """Run the network; its output (or tuple of outputs) as numpy arrays."""
    with torch.inference_mode():
        outputs = model(torch.from_numpy(inputs))
    if not isinstance(outputs, (tuple, list)):
        outputs = (outputs,)
    return [output.detach().cpu().numpy() for output in outputs]'''

_FORWARD_KERAS = '''\
def forward(model: Any, inputs: np.ndarray) -> list[np.ndarray]:
    """Run the model; its output (or list of outputs) as numpy arrays."""
    outputs = model.predict(inputs, verbose=0)
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if not isinstance(outputs, (tuple, list)):
        outputs = [outputs]
    return [np.asarray(output) for output in outputs]'''

_FORWARD_NPZ = {
    Task.CLASSIFICATION: '''\
def forward(model: Any, inputs: np.ndarray) -> list[np.ndarray]:
    """A linear classifier: logits = features @ weights + bias, with ``weights`` (F, K) and
    ``bias`` (K,) from the .npz file. Replace it with your model's computation."""
    return [inputs @ model["weights"] + model["bias"]]''',
    Task.REGRESSION: '''\
def forward(model: Any, inputs: np.ndarray) -> list[np.ndarray]:
    """A linear model: values = features @ weights + bias, with ``weights`` (F,) or (F, T) and
    ``bias`` a number or (T,) from the .npz file. Replace it with your model's computation."""
    return [inputs @ model["weights"] + model["bias"]]''',
    Task.SEGMENTATION: '''\
def forward(model: Any, inputs: np.ndarray) -> list[np.ndarray]:
    """A per-pixel linear classifier (a 1x1 convolution): class logits (N, K, H, W) from
    ``weights`` (C, K) and ``bias`` (K,) of the .npz file. Replace it with your model's
    computation."""
    logits = np.einsum("nchw,ck->nkhw", inputs, model["weights"])
    return [logits + model["bias"][None, :, None, None]]''',
    Task.TEXT_EMBEDDING: '''\
def forward(model: Any, inputs: np.ndarray) -> list[np.ndarray]:
    """Token vectors (N, L, D): the rows of ``embeddings`` (VOCAB_SIZE, D) from the .npz file
    picked by the token ids. Replace it with your model's computation."""
    return [model["embeddings"][inputs]]''',
}

# -- preprocess: JSON to arrays -----------------------------------------------------------------

_PREPROCESS = {
    Layout.FEATURES: '''\
def preprocess(data: Any) -> np.ndarray:
    """Feature rows as an array (N, F)."""
    features = np.asarray(data, dtype=DTYPE)
    if features.ndim != 2:
        raise ValueError(f"expected a list of feature rows (N, F), got shape {features.shape}")
    return features''',
    Layout.IMAGES: '''\
def preprocess(data: Any) -> np.ndarray:
    """Images as an array (N, C, H, W)."""
    images = np.asarray(data, dtype=DTYPE)
    if images.ndim != 4:
        raise ValueError(f"expected a batch of images (N, C, H, W), got shape {images.shape}")
    return images''',
    Layout.IMAGES_HWC: '''\
def preprocess(data: Any) -> np.ndarray:
    """Images as an array (N, H, W, C)."""
    images = np.asarray(data, dtype=DTYPE)
    if images.ndim != 4:
        raise ValueError(f"expected a batch of images (N, H, W, C), got shape {images.shape}")
    return images''',
}

_PREPROCESS_TEXT = '''\
def preprocess(data: Any) -> Any:
    """A list of strings (one string is a list of one)."""
    texts = [data] if isinstance(data, str) else list(data)
    if not all(isinstance(text, str) for text in texts):
        raise ValueError("expected a list of strings")
    return texts'''

_PREPROCESS_TOKENS = '''\
def preprocess(data: Any) -> np.ndarray:
    """Texts as token ids (N, MAX_LENGTH), int64; see tokenize()."""
    texts = [data] if isinstance(data, str) else list(data)
    if not all(isinstance(text, str) for text in texts):
        raise ValueError("expected a list of strings")
    return tokenize(texts)


def tokenize(texts: list[str]) -> np.ndarray:
    """A stand-in tokenizer: id 1 starts every text, then each lowercased word is hashed
    (CRC-32) to an id in 2..VOCAB_SIZE-1; 0 pads. Replace it with your model's tokenizer
    (keeping 0 for padding, which the pooling in postprocess() leaves out)."""
    ids = np.zeros((len(texts), MAX_LENGTH), dtype=np.int64)
    for row, text in enumerate(texts):
        ids[row, 0] = 1
        words = re.findall(r"\\w+", text.lower())[: MAX_LENGTH - 1]
        for column, word in enumerate(words, start=1):
            ids[row, column] = 2 + zlib.crc32(word.encode("utf-8")) % (VOCAB_SIZE - 2)
    return ids'''

# -- postprocess: arrays to the task's answer ---------------------------------------------------

_POSTPROCESS = {
    Task.CLASSIFICATION: '''\
def postprocess(outputs: list[np.ndarray], inputs: np.ndarray | None = None) -> dict[str, Any]:
    """The first output scores every class (N, K), or the positive class of a binary model
    (N, 1): labels and probabilities."""
    scores = outputs[0].astype(np.float64).reshape(len(outputs[0]), -1)
    if scores.shape[1] == 1:
        positive = 1 / (1 + np.exp(-scores)) if MODEL_RETURNS_LOGITS else scores
        probabilities = np.concatenate([1 - positive, positive], axis=1)
    elif MODEL_RETURNS_LOGITS:
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        probabilities = exp / exp.sum(axis=1, keepdims=True)
    else:
        probabilities = scores
    best = probabilities.argmax(axis=1)
    labels = [CLASS_NAMES[i] if CLASS_NAMES else int(i) for i in best]
    return {"labels": labels, "probabilities": probabilities.tolist()}''',
    Task.REGRESSION: '''\
def postprocess(outputs: list[np.ndarray], inputs: np.ndarray | None = None) -> dict[str, Any]:
    """The first output holds the predictions: (N,) or (N, 1), or (N, T) for T targets."""
    values = outputs[0].astype(np.float64).reshape(len(outputs[0]), -1)
    if values.shape[1] == 1:
        return {"values": values[:, 0].tolist()}
    return {"values": values.tolist()}''',
    Task.OBJECT_DETECTION: '''\
def postprocess(outputs: list[np.ndarray], inputs: np.ndarray | None = None) -> dict[str, Any]:
    """Three outputs: boxes (N, D, 4) as x1, y1, x2, y2 in pixels, scores (N, D) and class
    indices (N, D). Per image, best first, the detections scoring at least SCORE_THRESHOLD
    that overlap no better one of their class by more than IOU_THRESHOLD."""
    if len(outputs) < 3:
        raise ValueError(f"expected 3 outputs (boxes, scores, labels), got {len(outputs)}")
    boxes, scores, labels = outputs[:3]
    detections = []
    for image_boxes, image_scores, image_labels in zip(boxes, scores, labels):
        found: list[dict[str, Any]] = []
        kept: list[tuple[np.ndarray, int]] = []
        for i in np.argsort(-image_scores, kind="stable"):
            if image_scores[i] < SCORE_THRESHOLD:
                break
            box, label = image_boxes[i], int(image_labels[i])
            if any(label == k and iou(box, other) > IOU_THRESHOLD for other, k in kept):
                continue
            kept.append((box, label))
            found.append(
                {
                    "box": [float(v) for v in box],
                    "score": float(image_scores[i]),
                    "label": CLASS_NAMES[label] if CLASS_NAMES else label,
                }
            )
        detections.append(found)
    return {"detections": detections}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes x1, y1, x2, y2."""
    overlap_w = min(a[2], b[2]) - max(a[0], b[0])
    overlap_h = min(a[3], b[3]) - max(a[1], b[1])
    overlap = max(overlap_w, 0) * max(overlap_h, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return float(overlap / union) if union > 0 else 0.0''',
    Task.SEGMENTATION: '''\
def postprocess(outputs: list[np.ndarray], inputs: np.ndarray | None = None) -> dict[str, Any]:
    """The first output scores every class at every pixel; a single class channel is a binary
    model's positive class. Masks (N, H, W) of class indices."""
    scores = outputs[0]
    if scores.shape[CLASS_AXIS] == 1:
        threshold = 0.0 if MODEL_RETURNS_LOGITS else 0.5
        masks = np.squeeze(scores, axis=CLASS_AXIS) > threshold
    else:
        masks = scores.argmax(axis=CLASS_AXIS)
    return {"masks": masks.astype(np.int64).tolist()}''',
    Task.TEXT_EMBEDDING: '''\
def postprocess(outputs: list[np.ndarray], inputs: np.ndarray) -> dict[str, Any]:
    """The first output holds one vector per text (N, D), or one per token (N, L, D), which
    are averaged over the text's tokens (padding left out). Vectors are L2-normalized."""
    vectors = outputs[0].astype(np.float64)
    if vectors.ndim == 3:
        mask = (inputs != 0)[:, :, None]
        vectors = (vectors * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
    return {"embeddings": normalize(vectors).tolist()}''',
}

_NORMALIZE = '''\
def normalize(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a row of zeros stays zeros)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)'''

# -- scikit-learn: the estimator answers --------------------------------------------------------

_SKLEARN_PREDICT = {
    Task.CLASSIFICATION: '''\
def predict(data: Any, model: Any = None) -> dict[str, Any]:
    """Labels (the estimator's classes) for feature rows (N, F), and the probability of every
    class when the estimator has predict_proba."""
    if model is None:
        model = load_model()
    features = preprocess(data)
    if not hasattr(model, "predict_proba"):
        return {"labels": model.predict(features).tolist()}
    probabilities = model.predict_proba(features)
    labels = model.classes_[probabilities.argmax(axis=1)]
    return {"labels": labels.tolist(), "probabilities": probabilities.tolist()}''',
    Task.REGRESSION: '''\
def predict(data: Any, model: Any = None) -> dict[str, Any]:
    """The estimator's prediction for feature rows (N, F): one number per row, or a list of
    numbers per row for a multi-output estimator."""
    if model is None:
        model = load_model()
    values = np.asarray(model.predict(preprocess(data)), dtype=np.float64)
    return {"values": values.tolist()}''',
    Task.SEGMENTATION: '''\
def predict(data: Any, model: Any = None) -> dict[str, Any]:
    """A pixel classifier: every pixel of images (N, C, H, W) is classified by its C channel
    values (the estimator sees rows of C features and predicts class indices); masks (N, H, W)."""
    if model is None:
        model = load_model()
    images = preprocess(data)
    n, c, h, w = images.shape
    pixels = images.transpose(0, 2, 3, 1).reshape(-1, c)
    masks = np.asarray(model.predict(pixels)).reshape(n, h, w)
    return {"masks": masks.astype(np.int64).tolist()}''',
    Task.TEXT_EMBEDDING: '''\
def predict(data: Any, model: Any = None) -> dict[str, Any]:
    """The estimator's transform of each text (for example a TfidfVectorizer followed by
    TruncatedSVD), L2-normalized."""
    if model is None:
        model = load_model()
    vectors = model.transform(preprocess(data))
    if hasattr(vectors, "toarray"):  # a sparse matrix
        vectors = vectors.toarray()
    return {"embeddings": normalize(np.asarray(vectors, dtype=np.float64)).tolist()}''',
}

_PREDICT = '''\
def predict(data: Any, model: Any = None) -> dict[str, Any]:
    """Answer one request: preprocess, run the model, postprocess."""
    if model is None:
        model = load_model()
    inputs = preprocess(data)
    return postprocess(forward(model, inputs), inputs)'''


def _task_constants(task: Task, framework: Framework, layout: Layout) -> list[str]:
    lines = []
    if task in (Task.CLASSIFICATION, Task.OBJECT_DETECTION) and framework != Framework.SKLEARN:
        lines.append(
            "CLASS_NAMES: list[str] | None = None  "
            '# e.g. ["cat", "dog"]; None: a label is the class index'
        )
    if task == Task.OBJECT_DETECTION:
        lines += [
            "SCORE_THRESHOLD = 0.5  # detections scoring lower are dropped",
            "IOU_THRESHOLD = 0.5  # overlap above which the lesser box of a class is dropped "
            "(1.0 keeps all)",
        ]
    if task in (Task.CLASSIFICATION, Task.SEGMENTATION) and framework != Framework.SKLEARN:
        lines.append(
            {
                Framework.PYTHON: "MODEL_RETURNS_LOGITS = True  # forward() below returns logits",
                Framework.KERAS: "MODEL_RETURNS_LOGITS = False  # True when the last layer has "
                "no softmax (or sigmoid)",
            }.get(
                framework,
                "MODEL_RETURNS_LOGITS = True  # False when the model ends in a softmax "
                "(or sigmoid)",
            )
        )
    if task == Task.SEGMENTATION and framework != Framework.SKLEARN:
        axis = "-1  # channels last" if layout == Layout.IMAGES_HWC else "1  # channels first"
        lines.append(f"CLASS_AXIS = {axis}: the axis of the class scores")
    if layout == Layout.TEXT and framework != Framework.SKLEARN:
        lines += [
            "VOCAB_SIZE = 4096  # token ids: 0 pads, 1 starts a text, 2.. are hashed words",
            "MAX_LENGTH = 64  # tokens per text, the start token included",
        ]
    return lines


def _dtype_constant(framework: Framework, layout: Layout) -> list[str]:
    """``DTYPE``, which preprocess() converts the request's numbers to (none for text)."""
    if layout == Layout.TEXT:
        return []
    dtype = "np.float64" if framework in (Framework.SKLEARN, Framework.PYTHON) else "np.float32"
    return [f"DTYPE = {dtype}  # what the model computes in"]


@dataclass(frozen=True, kw_only=True)
class Steps:
    """The code of a non-scikit-learn template, step by step: ``score.py`` puts it in one
    file, a Gesund bundle (``templates.gesund``) spreads it over model.py, preprocess.py and
    postprocess.py."""

    imports: list[str]
    load: str
    forward: str
    preprocess: str
    postprocess: list[str]
    #: The constants postprocess() reads (labels, thresholds, the class axis).
    constants: list[str]
    #: The constants preprocess() reads (DTYPE).
    input_constants: list[str]


def steps(task: Task, framework: Framework, arch: Architecture) -> Steps:
    """The load, forward, pre- and post-processing code of a template whose framework runs
    the model (every framework but scikit-learn)."""
    layout = arch.input
    if framework == Framework.ONNX:
        load, forward = _LOAD_ONNX, _FORWARD_ONNX
    elif framework == Framework.KERAS:
        load, forward = _LOAD_KERAS, _FORWARD_KERAS
    elif framework == Framework.PYTHON:
        load, forward = _LOAD_NPZ, _FORWARD_NPZ[task]
    else:
        load = _LOAD_STATE_DICT if arch.model_class is not None else _LOAD_TORCHSCRIPT
        forward = _FORWARD_TORCH
    postprocess = [_POSTPROCESS[task]]
    if task == Task.TEXT_EMBEDDING:
        postprocess.append(_NORMALIZE)
    return Steps(
        imports=_IMPORTS[framework],
        load=load,
        forward=forward,
        preprocess=_PREPROCESS_TOKENS if layout == Layout.TEXT else _PREPROCESS[layout],
        postprocess=postprocess,
        constants=_task_constants(task, framework, layout),
        input_constants=_dtype_constant(framework, layout),
    )


def score_py(task: Task, framework: Framework, arch: Architecture) -> str:
    """The text of score.py for one template."""
    layout = arch.input
    network = arch.model_class is not None
    imports = ["import os", "from typing import Any"]
    if layout == Layout.TEXT and framework != Framework.SKLEARN:
        imports = ["import os", "import re", "import zlib", "from typing import Any"]
    if network:
        imports = ["import importlib.util", *imports]
    summary = (
        f"load_model() loads {arch.model_file} from this directory; predict(data, model=...) "
        f"takes {describe_input(layout).split(';')[0]}; it answers {summarize_output(task)}."
    )
    doc = "\n".join(
        [
            f'"""{task.replace("-", " ").capitalize()} with {_FRAMEWORK_WORDS[framework]}, '
            "served by modelyard.",
            "",
            textwrap.fill(summary, width=92),
            "",
            "README.md describes the contract; edit the constants below to fit your model.",
            '"""',
        ]
    )
    constants = [
        "HERE = os.path.dirname(os.path.abspath(__file__))",
        f'MODEL_FILE = "{arch.model_file}"',
    ]
    if network:
        class_name = arch.model_class.partition(":")[2] if arch.model_class else ""
        constants.append(f'NETWORK = "{class_name}"  # the class in model.py')
    if framework == Framework.SKLEARN:
        constants += [
            "# Types beyond skops' trusted defaults that you reviewed and trust, e.g.",
            '# "sklearn.tree._tree.Tree" for tree ensembles.',
            "TRUSTED_TYPES: list[str] = []",
        ]
    constants += _task_constants(task, framework, layout) + _dtype_constant(framework, layout)

    if framework == Framework.SKLEARN:
        preprocess = _PREPROCESS_TEXT if layout == Layout.TEXT else _PREPROCESS[layout]
        functions = [_LOAD_SKOPS, _SKLEARN_PREDICT[task], preprocess]
        if task == Task.TEXT_EMBEDDING:
            functions.append(_NORMALIZE)
    else:
        code = steps(task, framework, arch)
        functions = [code.load, _PREDICT, code.preprocess, code.forward, *code.postprocess]

    header = "\n".join(
        [doc, "", "from __future__ import annotations", "", *imports, "", *_IMPORTS[framework]]
    )
    return "\n\n".join([header, "\n".join(constants)]) + "\n\n\n" + "\n\n\n".join(functions) + "\n"


def tunables(score: str) -> list[str]:
    """The names of the constants at the top of a score.py meant to be edited."""
    fixed = {"HERE", "MODEL_FILE", "DTYPE"}
    names = re.findall(r"^([A-Z][A-Z_]*)\b[^=\n]*=", score, flags=re.MULTILINE)
    return [name for name in names if name not in fixed]
