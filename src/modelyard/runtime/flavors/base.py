"""The flavor interface: one adapter per model file format."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.errors import FileNotFound, InvalidArgument
from modelyard.runtime.packages import pinned


class FlavorImpl(ABC):
    """Saves an in-memory model as a file, recognizes such files, loads and predicts.

    ``detect`` reads file names and headers only (never runs model code), so it is safe
    anywhere; ``load`` and ``predict`` run the model and belong in a worker process.
    """

    flavor: ClassVar[Flavor]
    #: File name suffixes of the model files this flavor reads, most preferred first.
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: Distributions a bundle of this flavor needs; ``requirements()`` pins installed versions.
    packages: ClassVar[tuple[str, ...]] = ()
    #: An input every model of this flavor takes (JSON data), or None: the checks predict on
    #: it when the bundle has no example of its own.
    example: ClassVar[Any] = None

    def accepts(self, model: Any) -> bool:
        """Whether ``save`` can write this in-memory object."""
        return False

    def save(self, model: Any, bundle: Path, *, name: str = "model") -> RuntimeSpec:
        """Write ``model`` into ``bundle`` and return the spec that loads it again."""
        raise NotImplementedError(f"the {self.flavor} flavor cannot save models")

    def detect(self, bundle: Path, files: list[str]) -> RuntimeSpec | None:
        """The spec for ``bundle`` when one of ``files`` (relative paths) is this flavor's:
        by default the first with one of its ``suffixes`` (``detect.py`` tells TorchScript
        from other ``.pt`` files, and the checks sniff the content)."""
        for path in files:
            if PurePosixPath(path).suffix.lower() in self.suffixes:
                return RuntimeSpec(flavor=self.flavor, model_file=path)
        return None

    @abstractmethod
    def load(self, bundle: Path, spec: RuntimeSpec) -> Any:
        """Load the model that ``spec`` names inside ``bundle``."""

    @abstractmethod
    def predict(self, model: Any, data: Any) -> Any:
        """Predict on JSON-shaped ``data``; the answer is JSON-shaped too (see ``data``)."""

    def unsafe_format(self, spec: RuntimeSpec) -> str | None:
        """A warning when the model file is in a format that runs code on load (pickle)."""
        return None

    def output_schema(self, model: Any, answer: Any) -> dict[str, Any] | None:
        """The JSON Schema the loaded ``model`` declares for its answers (``answer`` is one
        of them), or None when it declares none (the checks then infer one)."""
        return None

    def requirements(self) -> list[str]:
        return pinned(self.packages)

    def saved(self, path: Path) -> RuntimeSpec:
        """The spec of a model file ``save`` just wrote at the top of the bundle."""
        return RuntimeSpec(
            flavor=self.flavor, model_file=path.name, requirements=self.requirements()
        )

    def model_path(self, bundle: Path, spec: RuntimeSpec) -> Path:
        """The model file ``spec`` names inside ``bundle``, or an error that says what to fix
        (not named, outside the bundle, missing)."""
        if not spec.model_file:
            raise InvalidArgument(
                f"runtime.model_file: the {self.flavor} flavor loads a model file; name it "
                "(a path relative to the bundle)",
                field="runtime.model_file",
            )
        root = bundle.resolve()
        path = (root / spec.model_file).resolve()
        if not path.is_relative_to(root):
            raise InvalidArgument(
                f"runtime.model_file: {spec.model_file!r} is outside the bundle; give a path "
                "relative to the bundle's directory",
                field="runtime.model_file",
            )
        if not path.is_file():
            raise FileNotFound(
                f"{spec.model_file} (runtime.model_file) is not in the bundle; add the "
                "model file, or fix runtime.model_file",
                field="runtime.model_file",
            )
        return path
