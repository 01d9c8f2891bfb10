"""Tiny text-embedding models built in the test, in the shapes OpenSearch ML Commons serves.

``build_embedding_model(directory, model_format=..., framework_type=..., dim=8)`` builds a
WordPiece tokenizer from a few sentences (``tokenizer.json``) and writes a small BERT-like
encoder (word, position and token-type embeddings, one masked self-attention layer):

- ``TORCH_SCRIPT`` + ``sentence_transformers``: ``model.pt`` traced the way opensearch-py-ml
  traces a SentenceTransformer: called with one dict of ``input_ids`` and ``attention_mask``,
  answering a dict with ``token_embeddings`` and ``sentence_embedding`` (mean pooled).
- ``TORCH_SCRIPT`` + ``huggingface_transformers``: ``model.pt`` called with ``input_ids``,
  ``attention_mask`` (and ``token_type_ids`` unless ``token_type_ids=False``), answering a
  tuple whose first item is the token embeddings (``last_hidden_state``), as a traced BertModel.
- ``ONNX`` (either framework type): ``model.onnx`` with int64 inputs ``input_ids``,
  ``attention_mask`` (and ``token_type_ids``), whose first output is the token embeddings.

Nothing is downloaded. ``EmbeddingFixture.expected(texts, ...)`` (or ``expected_embeddings``)
computes the embeddings independently of modelyard: each text tokenized on its own, the
network run eagerly, pooled and normalized with numpy. ``write_zip`` writes the zip a user
registers with OpenSearch (the model file and ``tokenizer.json``, at the top or in a folder).

Import it as ``from embedding_models import ...`` (``tests/`` is on the path, as for
``seaweedfs_support``).
"""

from __future__ import annotations

import hashlib
import math
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

#: The sentences the tokenizer is trained on.
SENTENCES = (
    "the quick brown fox jumps over the lazy dog",
    "a model registry stores versions of models",
    "opensearch runs text embedding models for neural search",
    "sentence embeddings map text to dense vectors",
    "deploy the version and ask it for predictions",
)
#: Texts of different lengths, one with words the tokenizer never saw.
TEXTS = (
    "the lazy dog",
    "a model registry stores dense vectors of sentences",
    "zebra quokka",
    "search",
)
MODEL_FORMATS = ("TORCH_SCRIPT", "ONNX")
FRAMEWORK_TYPES = ("sentence_transformers", "huggingface_transformers")
POOLING_MODES = ("mean", "mean_sqrt_len", "max", "weightedmean", "cls")
#: The longest sequence the tokenizer keeps (its truncation); the network takes up to 64.
TOKENIZER_MAX_LENGTH = 32
_POSITIONS = 64


class TinyEncoder(torch.nn.Module):
    """Token embeddings of a one-layer, one-head BERT-like encoder; padded positions (mask 0)
    are never attended to, so padding does not change the other tokens' embeddings."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.words = torch.nn.Embedding(vocab_size, dim)
        self.positions = torch.nn.Embedding(_POSITIONS, dim)
        self.types = torch.nn.Embedding(2, dim)
        self.query = torch.nn.Linear(dim, dim)
        self.key = torch.nn.Linear(dim, dim)
        self.value = torch.nn.Linear(dim, dim)
        self.out = torch.nn.Linear(dim, dim)
        self.norm = torch.nn.LayerNorm(dim)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        hidden = self.words(input_ids) + self.positions(positions)
        if token_type_ids is not None:
            hidden = hidden + self.types(token_type_ids)
        scores = self.query(hidden) @ self.key(hidden).transpose(1, 2)
        scores = scores / math.sqrt(hidden.shape[-1])
        blocked = (attention_mask == 0).unsqueeze(1)
        scores = scores.masked_fill(blocked, -1e9)
        attended = torch.softmax(scores, dim=-1) @ self.value(hidden)
        return torch.tanh(self.norm(hidden + self.out(attended)))


class SentenceTransformerModule(torch.nn.Module):
    """A SentenceTransformer's shape: a dict of features in, the dict with
    ``sentence_embedding`` (mean pooling over the attention mask) out."""

    def __init__(self, encoder: TinyEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mask = features["attention_mask"]
        tokens = self.encoder(features["input_ids"], mask)
        weights = mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return {"token_embeddings": tokens, "sentence_embedding": pooled}


class HuggingfaceModule(torch.nn.Module):
    """A traced BertModel's shape: a tuple of ``last_hidden_state`` and a pooled output."""

    def __init__(self, encoder: TinyEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooler = torch.nn.Linear(encoder.words.embedding_dim, encoder.words.embedding_dim)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.encoder(input_ids, attention_mask, token_type_ids)
        return tokens, torch.tanh(self.pooler(tokens[:, 0]))


@dataclass(frozen=True, kw_only=True)
class EmbeddingFixture:
    """A tiny embedding model written in ``directory``, and how to ask for its embeddings."""

    directory: Path
    model_format: str
    framework_type: str
    dim: int
    model_file: str
    tokenizer_file: str
    #: The network the model file was made from, run eagerly by ``expected``.
    network: torch.nn.Module
    #: Whether the model file takes ``token_type_ids``.
    token_type_ids: bool

    @property
    def files(self) -> list[Path]:
        return [self.directory / self.model_file, self.directory / self.tokenizer_file]

    def runtime(
        self,
        *,
        pooling_mode: str | None = None,
        normalize_result: bool | None = None,
        max_sequence_length: int | None = None,
    ) -> dict[str, Any]:
        """The version's ``runtime`` (RuntimeSpec as JSON); options left None are left out."""
        embedding: dict[str, Any] = {
            "model_format": self.model_format,
            "framework_type": self.framework_type,
            "embedding_dimension": self.dim,
        }
        options = {
            "pooling_mode": pooling_mode,
            "normalize_result": normalize_result,
            "max_sequence_length": max_sequence_length,
        }
        embedding.update({k: v for k, v in options.items() if v is not None})
        return {
            "flavor": "text_embedding",
            "model_file": self.model_file,
            "text_embedding": embedding,
        }

    def model_config(
        self, *, pooling_mode: str | None = None, normalize_result: bool | None = None
    ) -> dict[str, Any]:
        """OpenSearch's ``model_config`` object for this model."""
        config: dict[str, Any] = {
            "model_type": "bert",
            "embedding_dimension": self.dim,
            "framework_type": self.framework_type,
        }
        if pooling_mode is not None:
            config["pooling_mode"] = pooling_mode
        if normalize_result is not None:
            config["normalize_result"] = normalize_result
        return config

    def write_zip(self, path: Path | None = None, *, folder: str | None = None) -> Path:
        """The zip a user registers with OpenSearch: the model file and ``tokenizer.json`` at
        its top (opensearch-py-ml today), or inside ``folder/`` (its older releases).
        Written next to the model as ``<directory name>.zip`` unless ``path`` is given."""
        path = path or self.directory.with_suffix(".zip")
        prefix = f"{folder}/" if folder else ""
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(self.directory / self.model_file, prefix + self.model_file)
            archive.write(self.directory / self.tokenizer_file, prefix + "tokenizer.json")
        return path

    def expected(
        self,
        texts: Sequence[str],
        *,
        pooling_mode: str = "mean",
        normalize_result: bool = False,
        max_sequence_length: int | None = None,
    ) -> np.ndarray:
        """The embeddings ``texts`` should get, shape ``(len(texts), dim)``."""
        return expected_embeddings(
            self,
            texts,
            pooling_mode=pooling_mode,
            normalize_result=normalize_result,
            max_sequence_length=max_sequence_length,
        )


def build_embedding_model(
    directory: Path,
    *,
    model_format: str,
    framework_type: str,
    dim: int = 8,
    model_name: str = "model",
    token_type_ids: bool = True,
    seed: int = 0,
) -> EmbeddingFixture:
    """Write ``tokenizer.json`` and ``<model_name>.pt`` or ``.onnx`` into ``directory`` (see
    the module's doc); ``token_type_ids=False`` leaves that input out of a
    ``huggingface_transformers`` TorchScript or an ONNX model."""
    if model_format not in MODEL_FORMATS:
        raise ValueError(f"model_format: expected one of {MODEL_FORMATS}, got {model_format!r}")
    if framework_type not in FRAMEWORK_TYPES:
        raise ValueError(
            f"framework_type: expected one of {FRAMEWORK_TYPES}, got {framework_type!r}"
        )
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    tokenizer.save(str(directory / "tokenizer.json"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = TinyEncoder(tokenizer.get_vocab_size(), dim).eval()
        huggingface = HuggingfaceModule(encoder).eval()
    ids, mask, types = _example(tokenizer)
    if model_format == "ONNX":
        model_file = f"{model_name}.onnx"
        network: torch.nn.Module = encoder
        _export_onnx(encoder, directory / model_file, ids, mask, types if token_type_ids else None)
    elif framework_type == "sentence_transformers":
        model_file = f"{model_name}.pt"
        network = SentenceTransformerModule(encoder).eval()
        token_type_ids = False
        with _quiet():
            traced = torch.jit.trace(
                network, ({"input_ids": ids, "attention_mask": mask},), strict=False
            )
            torch.jit.save(traced, str(directory / model_file))
    else:
        model_file = f"{model_name}.pt"
        network = huggingface
        example = (ids, mask, types) if token_type_ids else (ids, mask)
        with _quiet():
            traced = torch.jit.trace(huggingface, example)
            torch.jit.save(traced, str(directory / model_file))
    return EmbeddingFixture(
        directory=directory,
        model_format=model_format,
        framework_type=framework_type,
        dim=dim,
        model_file=model_file,
        tokenizer_file="tokenizer.json",
        network=network,
        token_type_ids=token_type_ids,
    )


def build_tokenizer() -> Tokenizer:
    """A lowercasing WordPiece tokenizer whose vocabulary is the words of ``SENTENCES`` (and
    ``##s``, so plurals split), adding ``[CLS]``/``[SEP]`` and truncating to
    ``TOKENIZER_MAX_LENGTH`` tokens, as a BERT ``tokenizer.json`` does. Built, not trained:
    training orders the vocabulary differently from run to run."""
    words = sorted({word for sentence in SENTENCES for word in sentence.split()})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "##s", *words]
    tokenizer = Tokenizer(models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer.enable_truncation(TOKENIZER_MAX_LENGTH)
    return tokenizer


def expected_embeddings(
    fixture: EmbeddingFixture,
    texts: Sequence[str],
    *,
    pooling_mode: str = "mean",
    normalize_result: bool = False,
    max_sequence_length: int | None = None,
) -> np.ndarray:
    """What ML Commons answers for ``texts``: each text tokenized alone (no padding); a
    TorchScript sentence_transformers model's ``sentence_embedding`` as it is, otherwise the
    token embeddings pooled by ``pooling_mode``; L2-normalized when ``normalize_result``."""
    tokenizer = Tokenizer.from_file(str(fixture.directory / fixture.tokenizer_file))
    if max_sequence_length is not None:
        tokenizer.enable_truncation(max_sequence_length)
    rows = []
    for text in texts:
        encoding = tokenizer.encode(text)
        ids = torch.tensor([encoding.ids], dtype=torch.int64)
        mask = torch.tensor([encoding.attention_mask], dtype=torch.int64)
        types = torch.tensor([encoding.type_ids], dtype=torch.int64)
        with torch.inference_mode():
            if isinstance(fixture.network, SentenceTransformerModule):
                output = fixture.network({"input_ids": ids, "attention_mask": mask})
                rows.append(output["sentence_embedding"][0].numpy().astype(np.float64))
                continue
            if isinstance(fixture.network, HuggingfaceModule):
                tokens = fixture.network(ids, mask, types if fixture.token_type_ids else None)[0]
            else:
                tokens = fixture.network(ids, mask, types if fixture.token_type_ids else None)
        rows.append(_pool(tokens[0].numpy().astype(np.float64), mask[0].numpy(), pooling_mode))
    embeddings = np.stack(rows)
    if normalize_result:
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        embeddings = embeddings / np.maximum(norms, 1e-12)
    return embeddings


def zip_sha256(path: Path) -> str:
    """The hex SHA-256 of a file: OpenSearch's ``model_content_hash_value`` of a zip."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pool(tokens: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """ML Commons' pooling of one text's token embeddings ``(tokens, dim)``."""
    weights = mask.astype(np.float64)[:, None]
    if mode == "mean":
        return (tokens * weights).sum(0) / max(weights.sum(), 1e-9)
    if mode == "mean_sqrt_len":
        return (tokens * weights).sum(0) / math.sqrt(max(weights.sum(), 1e-9))
    if mode == "max":
        return np.where(weights > 0, tokens, -1e9).max(0)
    if mode == "weightedmean":
        positions = np.arange(1, len(tokens) + 1, dtype=np.float64)[:, None] * weights
        return (tokens * positions).sum(0) / positions.sum()
    if mode == "cls":
        return tokens[0]
    raise ValueError(f"pooling_mode: expected one of {POOLING_MODES}, got {mode!r}")


def _example(tokenizer: Tokenizer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A padded batch of two sentences to trace and export on."""
    tokenizer = Tokenizer.from_str(tokenizer.to_str())
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
    encodings = tokenizer.encode_batch(list(SENTENCES[:2]))
    return tuple(  # type: ignore[return-value]
        torch.tensor([getattr(e, name) for e in encodings], dtype=torch.int64)
        for name in ("ids", "attention_mask", "type_ids")
    )


def _export_onnx(
    encoder: TinyEncoder,
    path: Path,
    ids: torch.Tensor,
    mask: torch.Tensor,
    types: torch.Tensor | None,
) -> None:
    """Export with TorchScript-based exporter (``dynamo=False``: the dynamo one needs
    onnxscript), dynamic batch and sequence axes, as opensearch-py-ml's ONNX models have."""
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if types is not None else [])
    args = (ids, mask, types) if types is not None else (ids, mask)
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    with _quiet():
        torch.onnx.export(
            encoder,
            args,
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


class _quiet(warnings.catch_warnings):
    """Tracing and the TorchScript-based ONNX exporter warn (deprecation, tracer warnings);
    the suite turns warnings into errors, and these say nothing about the model."""

    def __enter__(self) -> None:
        super().__enter__()
        warnings.simplefilter("ignore")
