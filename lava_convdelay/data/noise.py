"""Background noise for generated utterances, mixed at a chosen signal-to-noise ratio.

Kinds (:data:`KINDS`), each returned at unit RMS:

- ``white``: Gaussian, flat spectrum (microphone and electronics hiss);
- ``pink``: power falling as 1/f (fans, rain, many natural sounds);
- ``brown``: power falling as 1/f^2 (rumble: traffic, wind);
- ``babble``: several eSpeak talkers speaking sentences at once (a room of
  people), cut from a bank of :data:`BABBLE_SECONDS` made once per set.

The SNR is the ratio of the speech's power (over the word, without the silence
around it) to the noise's, in dB.
"""
from __future__ import annotations

import numpy as np

from lava_convdelay.data.audio import SAMPLE_RATE, resample

KINDS = ("white", "pink", "brown", "babble")
BABBLE_TALKERS = 6
BABBLE_SECONDS = 30.0
#: what the babble talkers say (no word of the built-in vocabularies)
SENTENCES = ["The small boat drifted slowly past the old harbour wall.",
             "Please remember to bring the blue folder with the maps.",
             "Her brother painted the kitchen a warm shade of yellow.",
             "We waited an hour for the train that never came.",
             "A cold wind swept across the empty market square.",
             "Fresh bread and cheese make a simple, pleasant lunch.",
             "The teacher asked them to read the chapter again.",
             "Most of the guests had gathered near the fireplace.",
             "Thick clouds gathered above the hills before the storm.",
             "They carried the heavy boxes into the garden shed.",
             "Nobody expected the concert to finish so early.",
             "The museum closes its doors at half past five."]


def coloured_noise(samples: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """``[samples]`` Gaussian noise whose power falls as ``1 / f**exponent``
    (0: white, 1: pink, 2: brown), at unit RMS."""
    white = rng.standard_normal(samples)
    if exponent == 0:
        return white / np.sqrt(np.mean(white**2))
    spectrum = np.fft.rfft(white)
    frequency = np.arange(spectrum.size, dtype=np.float64)
    frequency[0] = frequency[1] if spectrum.size > 1 else 1.0  # no infinite DC gain
    shaped = np.fft.irfft(spectrum / frequency ** (exponent / 2), samples)
    shaped -= shaped.mean()
    return shaped / np.sqrt(np.mean(shaped**2))


def babble_bank(synth, speakers: list, rng: np.random.Generator) -> np.ndarray:
    """``[BABBLE_SECONDS * SAMPLE_RATE]`` babble at unit RMS: each of ``speakers``
    (:class:`lava_convdelay.data.voices.Speaker`) says the sentences in its own
    order, looped and started at its own point, all at the same level, summed."""
    length = int(BABBLE_SECONDS * SAMPLE_RATE)
    bank = np.zeros(length)
    for speaker in speakers:
        pieces, total = [], 0
        while total < length:
            for index in rng.permutation(len(SENTENCES)):
                audio = resample(synth.say(SENTENCES[index], speaker.accent, speaker.voice), synth.sample_rate)
                pieces += [audio, np.zeros(int(rng.uniform(0.1, 0.5) * SAMPLE_RATE))]
                total += audio.size + pieces[-1].size
        talker = np.roll(np.concatenate(pieces)[:length], int(rng.integers(length)))
        bank += talker / np.sqrt(np.mean(talker**2))
    return bank / np.sqrt(np.mean(bank**2))


def background(kind: str, samples: int, rng: np.random.Generator, babble: np.ndarray) -> np.ndarray:
    """``[samples]`` noise of ``kind`` at unit RMS; babble is a random stretch of the bank."""
    if kind == "babble":
        if samples > babble.size:
            raise ValueError(f"{samples} samples of babble asked from a bank of {babble.size}")
        start = int(rng.integers(babble.size - samples + 1))
        piece = babble[start:start + samples]
        return piece / np.sqrt(np.mean(piece**2))
    return coloured_noise(samples, {"white": 0, "pink": 1, "brown": 2}[kind], rng)


def add_noise(signal: np.ndarray, speech_rms: float, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal`` plus unit-RMS ``noise`` scaled to ``snr_db`` below ``speech_rms``."""
    return signal + noise * (speech_rms * 10 ** (-snr_db / 20))
