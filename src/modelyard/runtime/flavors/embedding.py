"""Text-embedding models as OpenSearch ML Commons runs them: a TorchScript or ONNX file and a
Hugging Face ``tokenizer.json``, texts in, one vector per text out.

``runtime.text_embedding`` (:class:`~modelyard.domain.runtime.TextEmbeddingSpec`) holds ML
Commons' ``model_format`` and ``model_config``. ``data`` is ``{"text_docs": [str, ...]}``, a
list of strings or one string; the answer is a list of ``embedding_dimension`` floats per text.

What is matched (ml-commons ``TextEmbeddingDenseModel`` and its translators,
``SentenceTransformerTextEmbeddingTranslator``, ``HuggingfaceTextEmbeddingTranslator``,
``ONNXSentenceTransformerTextEmbeddingTranslator``; opensearch-py-ml's exports):

- Tokens: the tokenizer file's own normalization, special tokens and truncation
  (opensearch-py-ml writes the model's max length into ``tokenizer.json``);
  ``max_sequence_length`` overrides the truncation, as ``model_config.model_max_length`` does.
- TorchScript ``sentence_transformers``: the module is called with one dict of ``input_ids``
  and ``attention_mask`` (int64), as opensearch-py-ml traces a SentenceTransformer, and its
  ``sentence_embedding`` is the answer; ``pooling_mode`` does not apply (it is already pooled).
- TorchScript ``huggingface_transformers``: called with ``input_ids``, ``attention_mask`` and,
  when its ``forward`` takes a third argument, ``token_type_ids``; the token embeddings are
  the output's ``last_hidden_state``, else its first item; then ``pooling_mode`` (default
  ``mean``).
- ONNX (either framework type): int64 ``input_ids``, ``attention_mask`` and, when the graph
  declares it, ``token_type_ids``; the first output is the token embeddings; then
  ``pooling_mode``.
- Pooling over the attention mask, as ML Commons computes it: ``mean`` (sum / count, the count
  clipped at 1e-9), ``mean_sqrt_len`` (sum / sqrt(count)), ``max`` (padding set to -1e9
  first), ``weightedmean`` (token i weighted i, from 1), ``cls`` (the first token).
- ``normalize_result``: each vector divided by its L2 norm (at least 1e-12).
- Loading predicts once on "warm up sentence", as ML Commons does, so a model that does not
  run, or answers vectors of another length than ``embedding_dimension``, fails to load.

Where this differs, on purpose:

- Several texts run as one padded batch (ML Commons runs them one at a time); padding is
  masked, so the vectors are the same up to float rounding.
- ``normalize_result`` also applies to a TorchScript ``sentence_transformers`` model (ML Commons
  ignores it there; normalizing a vector the model already normalized changes nothing).
- ``max`` with ``normalize_result``: ML Commons keeps the pooled axis and normalizes along the
  wrong one, which turns every value into +-1; here the vector is normalized like the others.
- A model output of shape ``[batch, dim]`` (already pooled) is used as it is; ML Commons would
  pool it as if its rows were tokens.
- ``token_type_ids`` is given when the model takes it, not when ``model_type`` is bert/albert.

The flavor is never detected from files: a ``.pt``/``.onnx`` file next to a ``tokenizer.json``
may be any model, and the embedding dimension is not in them. Register the runtime explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from modelyard.domain.runtime import (
    EmbeddingFormat,
    Flavor,
    FrameworkType,
    PoolingMode,
    RuntimeSpec,
    TextEmbeddingSpec,
)
from modelyard.errors import FileNotFound, InvalidArgument, ModelError
from modelyard.runtime.flavors.base import FlavorImpl
from modelyard.runtime.formats import sniff

#: The tensors a text-embedding model takes, in the order a TorchScript forward takes them.
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: What ML Commons predicts on when it loads a model.
WARM_UP = "warm up sentence"
#: Texts per model call; a request of more runs in several padded batches.
BATCH_SIZE = 32
#: What the sniffed model file must be, per ``model_format``.
_FORMATS = {EmbeddingFormat.TORCH_SCRIPT: "torchscript", EmbeddingFormat.ONNX: "onnx"}


@dataclass(frozen=True, kw_only=True)
class EmbeddingModel:
    """A loaded text-embedding model: its settings, tokenizer and network."""

    settings: TextEmbeddingSpec
    tokenizer: Any
    network: Any
    #: The token tensors the network takes, by name, in the order it takes them.
    inputs: tuple[str, ...]
    pad_id: int


class TextEmbeddingFlavor(FlavorImpl):
    flavor = Flavor.TEXT_EMBEDDING
    suffixes: ClassVar[tuple[str, ...]] = (".pt", ".onnx")
    #: And torch (TORCH_SCRIPT) or onnxruntime (ONNX), by the model's format.
    packages: ClassVar[tuple[str, ...]] = ("tokenizers", "numpy")
    example: ClassVar[Any] = [WARM_UP]

    def detect(self, bundle: Path, files: list[str]) -> RuntimeSpec | None:
        """Never: see the module's doc."""
        return None

    def load(self, bundle: Path, spec: RuntimeSpec) -> EmbeddingModel:
        settings = spec.text_embedding
        if settings is None:
            raise InvalidArgument(
                "runtime.text_embedding: the text_embedding flavor needs its settings "
                "(model_format, embedding_dimension, ...)",
                field="runtime.text_embedding",
            )
        path = self.model_path(bundle, spec)
        found = sniff(path)
        if found.name != _FORMATS[settings.model_format]:
            raise InvalidArgument(
                f"runtime.model_file: {spec.model_file} is {found.describe()}, but "
                f"runtime.text_embedding.model_format is {settings.model_format}; give the "
                "model file of that format, or fix model_format",
                field="runtime.model_file",
            )
        tokenizer, pad_id = _tokenizer(bundle, settings)
        if settings.model_format == EmbeddingFormat.ONNX:
            network, inputs = _onnx(path, spec)
        else:
            network, inputs = _torchscript(path, settings)
        model = EmbeddingModel(
            settings=settings, tokenizer=tokenizer, network=network, inputs=inputs, pad_id=pad_id
        )
        self.predict(model, [WARM_UP])
        return model

    def predict(self, model: EmbeddingModel, data: Any) -> list[list[float]]:
        texts = _texts(data)
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH_SIZE):
            vectors += _embed(model, texts[start : start + BATCH_SIZE]).tolist()
        return vectors


def _texts(data: Any) -> list[str]:
    """The texts of a request, or InvalidArgument naming the field that is wrong."""
    field = "data"
    if isinstance(data, Mapping):
        unknown = sorted(str(k) for k in data if k != "text_docs")
        if unknown:
            raise InvalidArgument(
                f'{unknown[0]}: unknown field; send {{"text_docs": ["text", ...]}}',
                field=unknown[0],
            )
        if "text_docs" not in data:
            raise InvalidArgument(
                'text_docs: missing; send {"text_docs": ["text", ...]}', field="text_docs"
            )
        data, field = data["text_docs"], "text_docs"
    if isinstance(data, str) and field == "data":
        return [data]
    if not isinstance(data, list):
        raise InvalidArgument(
            f"{field}: expected a list of texts (strings), got {_kind(data)}", field=field
        )
    if not data:
        raise InvalidArgument(f"{field}: expected at least one text", field=field)
    for i, text in enumerate(data):
        if not isinstance(text, str):
            raise InvalidArgument(
                f"{field}[{i}]: expected a text (a string), got {_kind(text)}",
                field=f"{field}[{i}]",
            )
    return data


def _embed(model: EmbeddingModel, texts: list[str]) -> Any:
    """The vectors of ``texts``, one padded batch: an array ``(len(texts), dimension)``."""
    import numpy as np

    encodings = model.tokenizer.encode_batch(texts)
    length = max(1, *(len(e.ids) for e in encodings))  # a tokenizer may give "" no tokens
    tokens = {name: np.zeros((len(texts), length), dtype=np.int64) for name in TOKEN_INPUTS}
    tokens["input_ids"].fill(model.pad_id)
    for row, encoding in enumerate(encodings):
        size = len(encoding.ids)
        tokens["input_ids"][row, :size] = encoding.ids
        tokens["attention_mask"][row, :size] = encoding.attention_mask
        tokens["token_type_ids"][row, :size] = encoding.type_ids
    output = _run(model, {name: tokens[name] for name in model.inputs})
    vectors = _sentence_vectors(output, tokens["attention_mask"], model.settings.pooling_mode)
    if model.settings.normalize_result:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, 1e-12)
    expected = model.settings.embedding_dimension
    if vectors.shape[1] != expected:
        raise ModelError(
            f"the model answers vectors of {vectors.shape[1]} values, but "
            f"runtime.text_embedding.embedding_dimension is {expected}; set it to "
            f"{vectors.shape[1]}, or check that the model file is the one meant"
        )
    return vectors


def _run(model: EmbeddingModel, feed: dict[str, Any]) -> Any:
    """The network's output for the token tensors: an array of token or sentence embeddings."""
    import numpy as np

    if model.settings.model_format == EmbeddingFormat.ONNX:
        return np.asarray(model.network.run(None, feed)[0], dtype=np.float32)
    import torch

    tensors = {name: torch.from_numpy(array) for name, array in feed.items()}
    with torch.inference_mode():
        if model.settings.framework_type == FrameworkType.SENTENCE_TRANSFORMERS:
            output = model.network(tensors)
        else:
            output = model.network(*tensors.values())
    return _torch_embeddings(output, model.settings.framework_type).float().numpy()


def _torch_embeddings(output: Any, framework: FrameworkType) -> Any:
    """The tensor of a TorchScript model's output that holds the embeddings."""
    import torch

    if isinstance(output, Mapping):
        key = (
            "sentence_embedding"
            if framework == FrameworkType.SENTENCE_TRANSFORMERS
            else "last_hidden_state"
        )
        if key in output:
            return output[key]
        if framework == FrameworkType.SENTENCE_TRANSFORMERS:
            raise ModelError(
                f"the model answers {', '.join(map(str, output))}, not sentence_embedding; "
                "a sentence_transformers model answers SentenceTransformer's features (set "
                "runtime.text_embedding.framework_type to huggingface_transformers for a "
                "model that answers token embeddings)"
            )
        output = next(iter(output.values()), None)
    if isinstance(output, tuple | list) and output:
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise ModelError(f"the model answers a {type(output).__name__}, not a tensor")
    return output


def _sentence_vectors(output: Any, mask: Any, mode: PoolingMode) -> Any:
    """``[batch, tokens, dim]`` token embeddings pooled over ``mask``; ``[batch, dim]`` as it is."""
    import numpy as np

    if output.ndim == 2 and output.shape[0] == mask.shape[0]:
        return output
    if output.ndim != 3 or output.shape[:2] != mask.shape:
        raise ModelError(
            f"the model answers a tensor of shape {list(output.shape)}; a text-embedding model "
            f"answers token embeddings [{mask.shape[0]}, {mask.shape[1]}, dim] or sentence "
            f"embeddings [{mask.shape[0]}, dim]"
        )
    weights = mask.astype(np.float32)[:, :, None]
    if mode == PoolingMode.CLS:
        return output[:, 0]
    if mode == PoolingMode.MAX:
        return np.where(weights > 0, output, np.float32(-1e9)).max(axis=1)
    if mode == PoolingMode.WEIGHTED_MEAN:
        weights = weights * np.arange(1, mask.shape[1] + 1, dtype=np.float32)[None, :, None]
        return (output * weights).sum(axis=1) / weights.sum(axis=1)
    counts = np.clip(weights.sum(axis=1), 1e-9, 1e12)
    if mode == PoolingMode.MEAN_SQRT_LEN:
        counts = np.sqrt(counts)
    return (output * weights).sum(axis=1) / counts


def _tokenizer(bundle: Path, settings: TextEmbeddingSpec) -> tuple[Any, int]:
    """The tokenizer (no padding: batches are padded here) and the id padding uses."""
    from tokenizers import Tokenizer

    field = "runtime.text_embedding.tokenizer_file"
    root = bundle.resolve()
    path = (root / settings.tokenizer_file).resolve()
    if not path.is_relative_to(root):
        raise InvalidArgument(
            f"{field}: {settings.tokenizer_file!r} is outside the bundle; give a path relative "
            "to the bundle's directory",
            field=field,
        )
    if not path.is_file():
        raise FileNotFound(
            f"{settings.tokenizer_file} ({field}) is not in the bundle; add the tokenizer.json "
            "saved with the model (tokenizer.save_pretrained writes it)",
            field=field,
        )
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a plain Exception for a bad file
        raise InvalidArgument(
            f"{field}: {settings.tokenizer_file} is not a Hugging Face tokenizers file "
            f"({str(exc).strip() or type(exc).__name__}); save it with tokenizer.save_pretrained "
            "(a fast tokenizer writes tokenizer.json)",
            field=field,
        ) from None
    padding = tokenizer.padding
    pad_id = padding["pad_id"] if padding else _pad_token(tokenizer)
    tokenizer.no_padding()
    if settings.max_sequence_length is not None:
        tokenizer.enable_truncation(settings.max_sequence_length)
    return tokenizer, pad_id


def _pad_token(tokenizer: Any) -> int:
    for token in ("[PAD]", "<pad>"):
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return 0


def _onnx(path: Path, spec: RuntimeSpec) -> tuple[Any, tuple[str, ...]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no warnings on stderr per session
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = tuple(i.name for i in session.get_inputs())
    if not {"input_ids", "attention_mask"} <= set(names) or not set(names) <= set(TOKEN_INPUTS):
        raise InvalidArgument(
            f"runtime.model_file: {spec.model_file} takes the inputs {', '.join(names)}; a "
            "text-embedding ONNX model takes input_ids, attention_mask and optionally "
            "token_type_ids",
            field="runtime.model_file",
        )
    return session, names


def _torchscript(path: Path, settings: TextEmbeddingSpec) -> tuple[Any, tuple[str, ...]]:
    import torch

    from modelyard.runtime.flavors.torch import _jit

    with _jit():
        module = torch.jit.load(str(path), map_location="cpu").eval()
    if settings.framework_type == FrameworkType.SENTENCE_TRANSFORMERS:
        return module, TOKEN_INPUTS[:2]
    arguments = [a.name for a in module.forward.schema.arguments[1:]]  # after self
    if not 2 <= len(arguments) <= 3:
        raise InvalidArgument(
            f"runtime.model_file: the module's forward takes {len(arguments)} arguments "
            f"({', '.join(arguments)}); a huggingface_transformers model takes input_ids, "
            "attention_mask and optionally token_type_ids",
            field="runtime.model_file",
        )
    return module, TOKEN_INPUTS[: len(arguments)]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"
