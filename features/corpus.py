"""Read the shared emotional-speech corpora (LABELS.csv format) without copying any audio into the repo."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """`CALLGUARD_SHARED_DATA`, else ../shared/data beside the repository."""
    return Path(os.environ.get("CALLGUARD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Clip:
    """One labelled recording."""

    path: Path
    corpus: str
    speaker: str
    emotion: str
    sentence: str
    language: str
    qc: str = "ok"

    def load(self, sample_rate_hz: int = 16000) -> np.ndarray:
        """Mono float32 samples at `sample_rate_hz`."""
        audio, rate = sf.read(self.path, dtype="float32", always_2d=True)
        mono = audio.mean(axis=1)
        if rate != sample_rate_hz:
            mono = soxr.resample(mono, rate, sample_rate_hz)
        return mono.astype(np.float32)


def read_labels(csv_path: str | Path) -> list[Clip]:
    """Clips listed in a LABELS.csv (paths relative to its folder); rows flagged by QC as duplicates skipped."""
    csv_path = Path(csv_path)
    clips = []
    with open(csv_path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            qc = row.get("qc", "ok") or "ok"
            if "identical" in qc or "duplicate" in qc:
                continue
            clips.append(
                Clip(
                    path=csv_path.parent / row["path"],
                    corpus=row.get("corpus", ""),
                    speaker=row["speaker"],
                    emotion=row["emotion"],
                    sentence=row.get("sentence", ""),
                    language=row.get("language", ""),
                    qc=qc,
                )
            )
    return clips
