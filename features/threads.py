"""Thread settings for the analysis code.

Many calls are analysed at once, each in its own thread. A BLAS library running its own thread pool inside
each of them only adds contention, and OpenBLAS's idle threads spin: on this 2-core machine the emotion
path's CPU per audio-s doubled at the same wall time (bench/emotion_path.py: prosody 0.021 -> 0.012,
the Whisper encoder every 3 s 0.044 -> 0.025 with one BLAS thread). CTranslate2 (Whisper) keeps its own
thread settings (`cpu_threads`), which this does not touch.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def one_blas_thread() -> None:
    """Limit BLAS (OpenBLAS/MKL) to one thread in this process, from now on."""
    threadpool_limits(limits=1, user_api="blas")
