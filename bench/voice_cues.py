"""How well the voice cues behind the anxiety and confusion rules are measured, on the shared corpora's real
speech (telephone-degraded): writes bench/results/voice_cues.json. Part of `make evaluate` (~50 min: Whisper
decodes every sentence once).

1. Final pitch rise (features/intonation.py, the question rules' `rise_st`): the share of sentences at or above
   3-6 semitones per corpus and emotion. Every corpus sentence is a statement, so on calm and neutral speech
   that share is the rate of statements taken for questions; surprise, often said as an echo question, is
   shown for contrast (not a question label).
2. Speech rate (the rate rules and the dynamics' speech-rate curve): the transcript's syllables per second of
   Whisper word timings against CASIA's labelled rate (syllables over the labelled speech duration), the
   acoustic syllable-nuclei count against the same, and what each reads on speech played 1.3x faster
   (PSOLA, tests/speed.py: same voice, pitch and words, shorter).
3. The default policy's rate rule run through the real EscalationDetector, sentence by sentence, on
   per-speaker call recipes: their calm sentences (any alert is false); 8 calm sentences, then the same 8
   played 1.3x and 1.5x faster (same words and style, only the pace changed: it should alert); 8 calm, then
   angry or fearful ones; then the same calls under the rule's line 1.15-1.3 and hold 2-3 (a sweep, on
   the same calls: there is no held-out set). Each sentence is cut as the endpointer would (its speech plus
   0.2 s) and brought to one level (peak 0.5): RAVDESS has actors recorded at a peak of 0.01, and Whisper
   heard nothing in some of their sped-up sentences.

    python -m bench.voice_cues [--speakers N] [--json PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import librosa
import numpy as np

from features.corpus import Clip, read_labels, shared_data_dir
from features.intonation import final_rise_st
from features.prosody import FEATURE_RATE_HZ, describe
from features.telephone import degrade
from service.domain import Role
from service.escalation.detector import EscalationDetector
from service.escalation.policy import DEFAULT_POLICY_FILE, Policy, load_policy, parse_policy
from service.settings import Settings
from service.simulate import normalise_peak
from service.transcription.whisper import DecodeOptions, Transcriber
from tests.speed import faster

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path(__file__).resolve().parent.parent / "var" / "cache" / "voice_cues_rates.json"  # not in git
RISES = (3.0, 4.0, 5.0, 6.0)
FASTER = 1.3
SPEEDS = (1.3, 1.5)
EMOTIONS = ("angry", "fear")
SWEEP_RATIOS = (1.15, 1.2, 1.25, 1.3)
SWEEP_HOLDS = (2, 3)
BASE = 8  # sentences at the speaker's own pace before the switch


def _phone(audio16k: np.ndarray, rate: int = 16000) -> np.ndarray:
    return degrade(audio16k, 16000, out_rate_hz=rate)


def _as_utterance(audio16k: np.ndarray) -> np.ndarray:
    """The clip cut the way the live endpointer cuts an utterance: its speech plus 0.2 s either side. The
    corpora's clips carry up to a second of silence before the speech, which Whisper's first word timing
    can absorb (the rate would read slow)."""
    _, (a, b) = librosa.effects.trim(audio16k, top_db=40)
    pad = int(0.2 * 16000)
    return audio16k[max(0, a - pad) : b + pad]


def rises(clips: list[Clip]) -> dict:
    """Share of sentences whose voice rises at least each of RISES at the end, per corpus and emotion."""
    values: dict[tuple[str, str], list[float]] = {}
    cpu_s = 0.0
    for clip in clips:
        audio = _phone(clip.load(16000), FEATURE_RATE_HZ)
        t0 = time.process_time()
        values.setdefault((clip.corpus, clip.emotion), []).append(final_rise_st(audio))
        cpu_s += time.process_time() - t0
    out: dict = {"cpu_ms_per_sentence": round(1000 * cpu_s / max(1, len(clips)), 2)}
    for (corpus, emotion), v in sorted(values.items()):
        x = np.array(v)
        ok = x[np.isfinite(x)]
        out.setdefault(corpus, {})[emotion] = {
            "sentences": len(x),
            "measured": len(ok),
            "median_st": round(float(np.median(ok)), 2) if len(ok) else None,
            **{f"share_at_{r:g}_st": round(float(np.mean(ok >= r)), 3) if len(ok) else None for r in RISES},
        }
    return out


class Rates:
    """Transcript speech rate of a sentence (syllables/s of Whisper's word timings), cached by clip and speed
    in memory and in `cache_file` (a re-run, or a sweep of the rule's settings, decodes nothing again)."""

    def __init__(self, cache_file: Path | None = None) -> None:
        s = Settings()
        self._tr = Transcriber(s.whisper_model, compute_type=s.compute_type, cpu_threads=s.effective_cpu_threads)
        self._file = cache_file
        self._cache: dict[str, tuple[float, str]] = {}
        if cache_file is not None and cache_file.exists():
            self._cache = {k: tuple(v) for k, v in json.loads(cache_file.read_text()).items()}

    def save(self) -> None:
        if self._file is not None:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            self._file.write_text(json.dumps(self._cache, ensure_ascii=False))

    def __call__(self, clip: Clip, speed: float = 1.0) -> tuple[float, str]:
        key = f"{clip.path}|{speed:g}|{self._tr.description}|utterance|psola|peak"
        if key not in self._cache:
            audio = normalise_peak(faster(_as_utterance(clip.load(16000)), 16000, speed))
            prior = "zh" if clip.language.startswith("zh") else "en"
            res = self._tr.transcribe(
                _phone(audio), languages=("zh", "en"), offset_s=0.0, options=DecodeOptions(), prior=prior
            )
            segs = res.segments
            self._cache[key] = (
                float(np.median([s.speech_rate_sps for s in segs])) if segs else 0.0,
                "".join(s.text for s in segs).strip(),
            )
        return self._cache[key]


def rate_validity(casia_dir: Path, rates: Rates, n: int) -> dict:
    """Transcript and acoustic rates against CASIA's labelled syllable rate, and their reading at FASTER."""
    with open(casia_dir / "LABELS.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["speech_dur_s_from_lab"]]
    rows = rows[:: max(1, len(rows) // n)][:n]
    clips = {str(c.path): c for c in read_labels(casia_dir / "LABELS.csv")}
    true, text, acoustic, text_fast, acoustic_fast = [], [], [], [], []
    for r in rows:
        clip = clips[str(casia_dir / r["path"])]
        audio = _as_utterance(clip.load(16000))
        true.append(int(r["n_syllables"]) / float(r["speech_dur_s_from_lab"]))
        text.append(rates(clip)[0])
        text_fast.append(rates(clip, FASTER)[0])
        acoustic.append(describe(_phone(audio, FEATURE_RATE_HZ))[1].speech_rate_sps)
        fast = faster(audio, 16000, FASTER)
        acoustic_fast.append(describe(_phone(fast, FEATURE_RATE_HZ))[1].speech_rate_sps)
    t, x, a, xf, af = map(np.array, (true, text, acoustic, text_fast, acoustic_fast))
    ok = (x > 0) & (xf > 0)
    return {
        "clips": len(t),
        "timed_by_transcript": int(ok.sum()),
        "labelled_rate_median_sps": round(float(np.median(t)), 2),
        "pearson_r_transcript": round(float(np.corrcoef(t[ok], x[ok])[0, 1]), 3),
        "pearson_r_acoustic": round(float(np.corrcoef(t, a)[0, 1]), 3),
        f"transcript_reads_at_{FASTER:g}x_median": round(float(np.median(xf[ok] / x[ok])), 3),
        f"acoustic_reads_at_{FASTER:g}x_median": round(float(np.median(af / a)), 3),
    }


def rate_rule(clips: list[Clip], speakers: list[str], rates: Rates, policy: Policy | None = None) -> dict:
    """Run the (default) policy's rate rules sentence by sentence on per-speaker call recipes: their calm
    sentences (any alert is false); BASE calm sentences, then the same sentences again played faster (the
    same words and style, so only the pace changed: it should alert); BASE calm, then angry or fearful ones."""
    policy = policy or load_policy(DEFAULT_POLICY_FILE)
    reasons = {r.reason for r in policy.rate_rules}

    def alerts_at(sentences: list[tuple[Clip, float]]) -> list[int]:
        detector = EscalationDetector("voice-cues", policy)
        fired = []
        for k, (clip, speed) in enumerate(sentences):
            rate, text = rates(clip, speed)
            found = detector.on_transcript(0, Role.CUSTOMER, 4.0 * k, 4.0 * k + 2, text, speech_rate_sps=rate)
            fired += [k for a in found if a.reason in reasons]
        return fired

    names = [*(f"calm_{s:g}x" for s in SPEEDS), *EMOTIONS]
    out: dict = {"calm": [0, 0], **{name: [0, 0, []] for name in names}}
    for n, speaker in enumerate(speakers, 1):
        mine = [c for c in clips if c.speaker == speaker]
        calm = [c for c in mine if c.emotion in ("neutral", "calm")]
        out["calm"][0] += 1
        out["calm"][1] += bool(alerts_at([(c, 1.0) for c in calm[:20]]))
        after = {f"calm_{s:g}x": [(c, s) for c in calm[:BASE]] for s in SPEEDS}
        after |= {e: [(c, 1.0) for c in mine if c.emotion == e][:6] for e in EMOTIONS}
        for name, sentences in after.items():
            fired = alerts_at([(c, 1.0) for c in calm[:BASE]] + sentences)
            out[name][0] += 1
            out[name][1] += any(k < BASE for k in fired)
            late = [k - BASE + 1 for k in fired if k >= BASE]
            if late:
                out[name][2].append(late[0])
        rates.save()  # an interrupted run keeps what it decoded
        if policy.source.endswith("default_policy.toml"):
            print(f"  rate rule: {n}/{len(speakers)} speakers", file=sys.stderr, flush=True)
    return {
        "calm_calls": out["calm"][0],
        "calm_calls_alerted": out["calm"][1],
        **{
            name: {
                "calls": v[0],
                "alerted_before_switch": v[1],
                "alerted_after_switch": len(v[2]),
                "median_sentences_to_alert": float(np.median(v[2])) if v[2] else None,
            }
            for name, v in out.items()
            if name != "calm"
        },
    }


def rate_rule_sweep(clips: list[Clip], speakers: list[str], rates: Rates) -> list[dict]:
    """The rule's line and hold around the defaults, on the same calls (decoded rates cached: seconds)."""
    out = []
    for ratio in SWEEP_RATIOS:
        for hold in SWEEP_HOLDS:
            policy = parse_policy(
                f'[response]\ncalm_pace = 1.1\n[[rate_rule]]\nreason = "R"\nlevel = "MEDIUM"\nratio = {ratio}\nhold = {hold}\n',
                "sweep",
            )
            r = rate_rule(clips, speakers, rates, policy)
            out.append(
                {
                    "ratio": ratio,
                    "hold": hold,
                    "calm_calls_alerted": r["calm_calls_alerted"],
                    **{
                        name: r[name]["alerted_after_switch"] for name in (*(f"calm_{s:g}x" for s in SPEEDS), *EMOTIONS)
                    },
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--speakers", type=int, default=0, help="first N speakers only (0: all 26)")
    p.add_argument("--json", type=Path, default=RESULTS / "voice_cues.json")
    args = p.parse_args(argv)
    data = shared_data_dir()
    if not (data / "casia" / "LABELS.csv").exists():
        print(f"no corpora under {data}: set CALLGUARD_SHARED_DATA to the shared data folder", file=sys.stderr)
        return 2
    clips = read_labels(data / "ravdess" / "LABELS.csv") + read_labels(data / "casia" / "LABELS.csv")
    speakers = sorted({c.speaker for c in clips})
    speakers = speakers[: args.speakers] if args.speakers else speakers
    started = time.monotonic()
    print(f"final pitch rise on {len(clips)} sentences ...", file=sys.stderr, flush=True)
    result = {"final_rise": rises(clips)}
    rates = Rates(CACHE)
    print("speech rate against CASIA's labels ...", file=sys.stderr, flush=True)
    result["speech_rate"] = rate_validity(data / "casia", rates, 120)
    print(f"rate rule on {len(speakers)} speakers' calls ...", file=sys.stderr, flush=True)
    result["rate_rule"] = rate_rule(clips, speakers, rates)
    result["rate_rule_sweep"] = rate_rule_sweep(clips, speakers, rates)
    rates.save()
    result["seconds"] = round(time.monotonic() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")

    print("\nfinal pitch rise, share of statements at or above 4 st (questions by voice that are not):")
    for corpus, emotions in result["final_rise"].items():
        if not isinstance(emotions, dict):
            continue
        line = ", ".join(f"{e} {v['share_at_4_st']:.1%}" for e, v in emotions.items() if v["measured"])
        print(f"  {corpus}: {line}")
    sr = result["speech_rate"]
    print(
        f"speech rate vs CASIA labels: transcript r = {sr['pearson_r_transcript']}, acoustic r = "
        f"{sr['pearson_r_acoustic']}; at {FASTER:g}x speed the transcript reads "
        f"{sr[f'transcript_reads_at_{FASTER:g}x_median']}x, the acoustic count {sr[f'acoustic_reads_at_{FASTER:g}x_median']}x"
    )
    rr = result["rate_rule"]
    print(f"rate rule: {rr['calm_calls_alerted']}/{rr['calm_calls']} calm calls alerted (false)")
    for name in (*(f"calm_{s:g}x" for s in SPEEDS), *EMOTIONS):
        v = rr[name]
        print(
            f"  {BASE} calm sentences then {name}: {v['alerted_after_switch']}/{v['calls']} alerted after the switch "
            f"(median {v['median_sentences_to_alert']} sentences in), {v['alerted_before_switch']} before it (false)"
        )
    print("rate rule sweep (baseline 4): ratio, hold -> calm calls alerted; alerted after 1.3x, 1.5x, angry, fear")
    for row in result["rate_rule_sweep"]:
        print(
            f"  {row['ratio']:g} x{row['hold']}: {row['calm_calls_alerted']}; "
            + ", ".join(str(row[k]) for k in (*(f"calm_{s:g}x" for s in SPEEDS), *EMOTIONS))
        )
    print(f"final pitch rise costs {result['final_rise']['cpu_ms_per_sentence']} CPU-ms per sentence")
    print(f"wrote {args.json} in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
