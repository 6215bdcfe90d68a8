"""Model files that are checked before they are trusted: skops parts (no pickle; only trusted types load) and a
JSON sidecar holding the file's SHA-256, so a corrupt or swapped model file is refused with what to do."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import skops.io as sio

# Types skops may load beyond its built-in safe set; anything else in the file is refused.
TRUSTED_TYPES = ["numpy.dtype"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_checked(
    parts: dict[str, Any], directory: Path, model_file: str, sidecar_file: str, meta: dict[str, Any]
) -> dict[str, Any]:
    """Write `parts` with skops and `meta` (plus the file's name and SHA-256) as the sidecar; returns that meta."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / model_file
    sio.dump(parts, path)
    meta = {**meta, "model_file": model_file, "sha256": sha256(path)}
    (directory / sidecar_file).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


def load_checked(
    directory: Path, model_file: str, sidecar_file: str, error: type[Exception], retrain: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parts, meta) of a model saved by save_checked; raises `error` saying to run `retrain` when the sidecar is
    missing or the file's SHA-256 is not the one it records. Callers check the meta's names themselves."""
    sidecar = directory / sidecar_file
    if not sidecar.exists():
        raise error(f"{sidecar} is missing; train a model with `{retrain}`")
    meta = json.loads(sidecar.read_text())
    path = directory / meta.get("model_file", model_file)
    digest = sha256(path)
    if digest != meta.get("sha256"):
        raise error(
            f"{path} has SHA-256 {digest} but {sidecar} expects {meta.get('sha256')}: the model file is corrupt or "
            f"was replaced; retrain with `{retrain}` or restore it from git"
        )
    return sio.load(path, trusted=TRUSTED_TYPES), meta
