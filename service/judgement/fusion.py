"""Words and voice into one score per emotion: what the policy sees.

Both sources give probabilities calibrated at equal prior (class-balanced heads, Platt-scaled words), so a
probability's log-odds is the evidence it carries; independent evidence adds in log-odds (naive Bayes).
Three departures from plain addition, each for a case supervisors care about:
- Words only add evidence for anger and disappointment, never take it away: calm words are not evidence of a
  calm caller (people shout order numbers), and the acted corpora's angry voices say neutral sentences.
- The words' log-odds are weighted (`words_weight`, below 1 for anger): the words model learned from social
  media and TV, where complaint topics co-occur with anger, so a calm "where is my parcel" reads as weak
  anger. With the default, weak words on a calm voice stay under any alert line; moderate words on a
  raised voice cross it.
- Explicit words count alone (`words_alone_*`): insults and open anger said in a calm voice reach the
  policy at the words' own probability. The policy file sets these lines (the [fusion] table).
Anxiety and confusion have no voice model: they are the words' (the voice cues have rules of their own).
Source: the combination of independent calibrated classifiers in log-odds, e.g. Kittler et al. 1998,
"On combining classifiers" (product rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.judgement.results import VoiceEvidence, WordsEvidence

_EPS = 1e-4


@dataclass(frozen=True)
class FusionOptions:
    """How the two sources combine (the policy file's [fusion] table; defaults documented there)."""

    words_weight: float = 0.5  # anger: share of the words' log-odds added to the voice's
    disappointment_words_weight: float = 1.0  # disappointment is said more than heard (the voice's sad is weak)
    words_alone_anger: float = 0.97  # words anger at or above this counts whatever the voice (0-1; >1: never)
    words_alone_disappointment: float = 0.9
    # Share of the voice's log-odds taken from the 3 s windows over the utterance (judged against the speaker's
    # own calm baseline once it is full, held under the alert lines before): 0 the utterance view alone, 0.5
    # both equally, 1 the windows alone (the voice before issue 23). For anger and for disappointment.
    windows_share: float = 0.5
    sad_windows_share: float = 1.0
    # Windows this sure count alone (like words_alone_*): a voice far above the speaker's own calm baseline is
    # anger whatever the utterance view heard (which has no baseline and drifts on long utterances).
    windows_alone_anger: float = 0.75


def logit(p: float) -> float:
    p = min(1 - _EPS, max(_EPS, p))
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def voice_score(utterance: float, windows: float, share: float, alone_line: float = math.inf) -> float:
    """The voice's probability for the utterance: the utterance view's, blended in log-odds with the 3 s
    windows' over it (`share` of them; the utterance view alone when no window was scored); at least the
    windows' when they reach `alone_line`."""
    if math.isnan(windows):
        return utterance
    blended = (
        utterance
        if share <= 0
        else sigmoid((1 - min(1.0, share)) * logit(utterance) + min(1.0, share) * logit(windows))
    )
    return max(blended, windows) if windows >= alone_line else blended


def combine(voice: float, words: float | None, weight: float, alone_line: float) -> float:
    """One emotion: sigmoid(logit(voice) + weight x max(0, logit(words))), at least `words` when the words
    alone reach `alone_line`. Without words, the voice's own probability."""
    if words is None or math.isnan(words):
        return voice
    fused = sigmoid(logit(voice) + weight * max(0.0, logit(words)))
    return max(fused, words) if words >= alone_line else fused


@dataclass(frozen=True)
class Fused:
    anger: float
    disappointment: float
    anxiety: float
    confusion: float
    neutral: float
    voice_anger: float  # the voice the fusion used for anger (utterance view and windows blended)
    voice_disappointment: float


def fuse(voice: VoiceEvidence, words: WordsEvidence | None, options: FusionOptions) -> Fused:
    anger_v = voice_score(voice.anger, voice.windows_anger, options.windows_share, options.windows_alone_anger)
    sad_v = voice_score(voice.sad, voice.windows_sad, options.sad_windows_share)
    anger = combine(anger_v, words and words.anger, options.words_weight, options.words_alone_anger)
    sad = combine(
        sad_v, words and words.disappointment, options.disappointment_words_weight, options.words_alone_disappointment
    )
    anxiety = words.anxiety if words else 0.0
    confusion = words.confusion if words else 0.0
    neutral = max(0.0, 1.0 - max(anger, sad, anxiety, confusion))
    return Fused(anger, sad, anxiety, confusion, neutral, anger_v, sad_v)
