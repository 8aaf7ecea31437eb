"""A procedural sound world: 13 recognisable sound events mixed into captioned 5 s scenes.

Everything is numpy and seeded: ``make_scene(np.random.default_rng(seed))`` always returns the
same waveform, caption and ground truth (which event sounds where). This world is what the
bundled model is trained on and what its explanations are checked against.

Events: beep, siren, engine, rain, wind, bell, clock, knock, bird, footsteps, thunder, whistle, dog.
Each has natural variation (pitch, rate, loudness, timing) and understands the modifiers
``loud, quiet, distant, fast, slow, high, low`` where they make sense.
Relations: single event, "X then Y" (and "followed by", "and then", "Y after X"),
"X while Y" / "as" / "and", "X with Y in the background", and three-event scenes.
"""
from __future__ import annotations

import dataclasses
import typing as tp

import numpy as np

SR = 16000
CLIP_SECONDS = 5.0
REF_LEVEL = 0.1  # frame-RMS (95th percentile) of a normal-loudness event

# ----------------------------------------------------------------------------- helpers


def _t(n: int) -> np.ndarray:
    return np.arange(n) / SR


def _fft_filter(x: np.ndarray, lo: float = 0.0, hi: float = SR / 2, tilt: float = 0.0,
                order: float = 4.0) -> np.ndarray:
    """Zero-phase band-pass with soft (Butterworth-like magnitude) edges and a spectral tilt (dB/oct)."""
    n = len(x)
    X = np.fft.rfft(x)
    f = np.fft.rfftfreq(n, 1 / SR)
    g = np.ones_like(f)
    if lo > 0:
        g *= 1.0 / np.sqrt(1.0 + (lo / np.maximum(f, 1e-3)) ** (2 * order))
    if hi < SR / 2:
        g *= 1.0 / np.sqrt(1.0 + (f / hi) ** (2 * order))
    if tilt:
        g *= (np.maximum(f, 20.0) / 1000.0) ** (tilt / 6.02)
    return np.fft.irfft(X * g, n)


def _env(n: int, attack: float, decay: float) -> np.ndarray:
    """Attack (linear, seconds) then exponential decay (time constant, seconds)."""
    t = _t(n)
    a = np.clip(t / max(attack, 1e-4), 0, 1)
    return a * np.exp(-np.maximum(t - attack, 0) / max(decay, 1e-4))


def _place(out: np.ndarray, grain: np.ndarray, at: int) -> None:
    if at >= len(out) or at + len(grain) <= 0:
        return
    s = max(at, 0)
    e = min(at + len(grain), len(out))
    out[s:e] += grain[s - at:e - at]


def _smooth_noise(rng: np.random.Generator, n: int, rate_hz: float) -> np.ndarray:
    """Smooth random curve in [-1, 1]-ish with about ``rate_hz`` wiggles per second."""
    k = max(int(n / SR * rate_hz) + 3, 4)
    pts = rng.standard_normal(k)
    xs = np.linspace(0, n, k)
    return np.interp(np.arange(n), xs, pts)


def _frame_rms(x: np.ndarray, hop: int = 640) -> np.ndarray:
    m = len(x) // hop
    if m == 0:
        return np.array([np.sqrt(np.mean(x ** 2) + 1e-12)])
    return np.sqrt(np.mean(x[: m * hop].reshape(m, hop) ** 2, axis=1) + 1e-12)


def _normalise(x: np.ndarray) -> np.ndarray:
    level = np.percentile(_frame_rms(x), 95)
    return x * (REF_LEVEL / max(level, 1e-6))


def _periodic_times(rng: np.random.Generator, n: int, period: float, jitter: float = 0.1,
                    first: tp.Optional[float] = None) -> tp.List[int]:
    times = []
    t = rng.uniform(0, min(period, 0.3)) if first is None else first
    dur = n / SR
    while t < dur:
        times.append(int(t * SR))
        t += period * (1 + jitter * rng.uniform(-1, 1))
    return times


# ----------------------------------------------------------------------------- events
# Each synth: (rng, n_samples, rate, pitch) -> waveform (n,). rate/pitch are multipliers (1 = normal).


def _beep(rng, n, rate, pitch):
    f = rng.uniform(700, 1500) * pitch
    on = rng.uniform(0.1, 0.3)
    period = (on + rng.uniform(0.12, 0.4)) / rate
    m = int(on * SR)
    tt = _t(m)
    ramp = np.minimum(1, np.minimum(tt, tt[::-1]) / 0.005)
    g = (np.sin(2 * np.pi * f * tt) + 0.15 * np.sin(4 * np.pi * f * tt)) * ramp
    out = np.zeros(n)
    for at in _periodic_times(rng, n, max(period, on + 0.05), jitter=0.02):
        _place(out, g, at)
    return out


def _siren(rng, n, rate, pitch):
    tt = _t(n)
    fc = rng.uniform(700, 1000) * pitch
    dev = rng.uniform(0.2, 0.4) * fc
    if rng.random() < 0.6:  # wail
        fm = rng.uniform(0.25, 0.6) * rate
        inst = fc + dev * np.sin(2 * np.pi * fm * tt + rng.uniform(0, 2 * np.pi))
    else:  # hi-lo
        fm = rng.uniform(0.8, 1.4) * rate
        sq = np.sign(np.sin(2 * np.pi * fm * tt / 2 + rng.uniform(0, 2 * np.pi)))
        sq = np.convolve(sq, np.ones(160) / 160, mode="same")
        inst = fc + dev * 0.8 * sq
    ph = 2 * np.pi * np.cumsum(inst) / SR
    return np.sin(ph) + 0.35 * np.sin(2 * ph) + 0.15 * np.sin(3 * ph)


def _engine(rng, n, rate, pitch):
    tt = _t(n)
    f0 = rng.uniform(30, 65) * pitch
    inst = f0 * (1 + 0.03 * _smooth_noise(rng, n, 0.5))
    ph = 2 * np.pi * np.cumsum(inst) / SR
    y = np.zeros(n)
    for k in range(1, 30):
        if k * f0 > 2500:
            break
        y += np.sin(k * ph + rng.uniform(0, 2 * np.pi)) / k ** 0.9
    firing = 1 + 0.3 * np.sin(ph / 2)
    noise = _fft_filter(rng.standard_normal(n), 40, 700, order=2)
    y = y * firing + 2.0 * noise / (np.std(noise) + 1e-9) * 0.3
    return y * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * tt))


def _rain(rng, n, rate, pitch):
    base = _fft_filter(rng.standard_normal(n), 600, 7000, tilt=-1.5, order=2)
    base = base / (np.std(base) + 1e-9) * 0.5
    drops = np.zeros(n)
    density = rng.uniform(60, 160) * rate
    k = rng.poisson(density * n / SR)
    for at in rng.integers(0, n, size=k):
        m = int(rng.uniform(0.004, 0.015) * SR)
        g = rng.standard_normal(m) * _env(m, 0.0005, m / SR / 4) * rng.uniform(0.5, 2.0)
        _place(drops, g, int(at))
    drops = _fft_filter(drops, 1500 * pitch, 7500, order=2)
    return base * (1 + 0.15 * _smooth_noise(rng, n, 0.5)) + drops / (np.std(drops) + 1e-9) * 0.6


def _wind(rng, n, rate, pitch):
    # time-varying band-pass noise by overlap-add of FFT-filtered blocks
    noise = rng.standard_normal(n + 2048)
    hop, win = 512, np.hanning(1024)
    out = np.zeros(n + 2048)
    centre = 350 * pitch * np.exp(0.5 * _smooth_noise(rng, n + 2048, 0.4 * rate))
    f = np.fft.rfftfreq(1024, 1 / SR)
    for s in range(0, n + 1024, hop):
        seg = noise[s:s + 1024]
        if len(seg) < 1024:
            break
        c = centre[s + 512]
        g = np.exp(-0.5 * (np.log(np.maximum(f, 1) / c) / 0.55) ** 2)
        out[s:s + 1024] += np.fft.irfft(np.fft.rfft(seg * win) * g, 1024)
    y = out[:n]
    gust = np.exp(0.6 * _smooth_noise(rng, n, 0.3 * rate))
    return y * gust


def _bell(rng, n, rate, pitch):
    f0 = rng.uniform(400, 900) * pitch
    ratios = np.array([1.0, 2.0, 2.42, 3.0, 4.2, 5.4])
    amps = np.array([1.0, 0.6, 0.5, 0.3, 0.25, 0.15])
    decay = rng.uniform(0.7, 1.4)
    m = int(min(decay * 4, 3.0) * SR)
    tt = _t(m)
    g = sum(a * np.sin(2 * np.pi * f0 * r * tt) * np.exp(-tt / (decay / (1 + 0.4 * i)))
            for i, (r, a) in enumerate(zip(ratios, amps)))
    g = g * np.minimum(1, tt / 0.002)
    out = np.zeros(n)
    for at in _periodic_times(rng, n, rng.uniform(0.8, 1.5) / rate, jitter=0.05):
        _place(out, g * rng.uniform(0.8, 1.0), at)
    return out


def _clock(rng, n, rate, pitch):
    period = rng.uniform(0.45, 0.55) / rate
    f1 = rng.uniform(1800, 2800) * pitch
    out = np.zeros(n)
    for i, at in enumerate(_periodic_times(rng, n, period, jitter=0.01)):
        f = f1 * (1.0 if i % 2 == 0 else 0.8)
        m = int(0.03 * SR)
        tt = _t(m)
        g = np.sin(2 * np.pi * f * tt) * np.exp(-tt / 0.006) + 0.5 * rng.standard_normal(m) * np.exp(-tt / 0.002)
        _place(out, g, at)
    return _fft_filter(out, 800, 7000, order=2)


def _knock(rng, n, rate, pitch):
    out = np.zeros(n)
    f = rng.uniform(110, 220) * pitch
    for at in _periodic_times(rng, n, rng.uniform(1.0, 1.6) / rate, jitter=0.15):
        k = int(rng.integers(2, 5))
        gap = rng.uniform(0.14, 0.24) / np.sqrt(rate)
        for j in range(k):
            m = int(0.12 * SR)
            tt = _t(m)
            body = np.sin(2 * np.pi * f * tt * (1 + 0.3 * np.exp(-tt / 0.01))) * np.exp(-tt / rng.uniform(0.025, 0.05))
            click = _fft_filter(rng.standard_normal(m), 200, 2500, order=2) * np.exp(-tt / 0.004)
            _place(out, body + 0.6 * click / (np.std(click[:80]) + 1e-9) * 0.3, at + int(j * gap * SR))
    return out


def _bird(rng, n, rate, pitch):
    out = np.zeros(n)
    for at in _periodic_times(rng, n, rng.uniform(0.5, 1.1) / rate, jitter=0.3):
        k = int(rng.integers(2, 6))
        f1 = rng.uniform(2500, 4500) * pitch
        f2 = f1 * rng.uniform(1.2, 1.6) if rng.random() < 0.6 else f1 / rng.uniform(1.2, 1.6)
        spacing = rng.uniform(0.08, 0.14) / np.sqrt(rate)
        for j in range(k):
            m = int(rng.uniform(0.04, 0.09) * SR)
            tt = _t(m)
            inst = np.minimum(np.linspace(f1, f2, m), 7600)
            ph = 2 * np.pi * np.cumsum(inst) / SR
            g = np.sin(ph) * np.sin(np.pi * np.arange(m) / m) ** 2
            _place(out, g, at + int(j * spacing * SR))
    return out


def _footsteps(rng, n, rate, pitch):
    out = np.zeros(n)
    lo, hi = 250 * pitch, 3500 * pitch
    for at in _periodic_times(rng, n, rng.uniform(0.45, 0.6) / rate, jitter=0.05):
        m = int(0.12 * SR)
        tt = _t(m)
        e = np.exp(-tt / 0.015) + 0.7 * np.exp(-np.maximum(tt - 0.035, 0) / 0.02) * (tt > 0.035)
        g = _fft_filter(rng.standard_normal(m), lo, hi, order=2) * e
        _place(out, g * rng.uniform(0.7, 1.0), at)
    return out


def _thunder(rng, n, rate, pitch):
    out = np.zeros(n)
    t = rng.uniform(0.0, 0.4)
    while t < n / SR:
        m = int(rng.uniform(2.0, 3.5) / max(rate, 0.5) * SR)
        brown = np.cumsum(rng.standard_normal(m))
        brown = _fft_filter(brown - brown.mean(), 25 * pitch, 300 * pitch, order=2)
        brown /= np.std(brown) + 1e-9
        e = _env(m, rng.uniform(0.05, 0.3), rng.uniform(0.8, 1.6)) * (1 + 0.5 * np.abs(_smooth_noise(rng, m, 6)))
        crack = _fft_filter(rng.standard_normal(m), 300, 4000, order=2) * _env(m, 0.005, 0.12)
        _place(out, brown * e + 0.8 * crack / (np.std(crack[:2000]) + 1e-9) * 0.5, int(t * SR))
        t += m / SR * rng.uniform(0.6, 0.9)
    return out


def _whistle(rng, n, rate, pitch):
    out = np.zeros(n)
    f = rng.uniform(1200, 2400) * pitch
    t = rng.uniform(0, 0.2)
    while t < n / SR:
        d = rng.uniform(0.4, 1.2) / rate
        m = int(d * SR)
        tt = _t(m)
        slide = 1 + rng.uniform(-0.25, 0.25) * tt / d
        inst = f * slide * (1 + 0.015 * np.sin(2 * np.pi * rng.uniform(5, 7) * tt))
        ph = 2 * np.pi * np.cumsum(inst) / SR
        env = np.minimum(1, np.minimum(tt, tt[::-1]) / 0.03)
        breath = _fft_filter(rng.standard_normal(m), f * 0.8, f * 1.3, order=2)
        g = (np.sin(ph) + 0.15 * breath / (np.std(breath) + 1e-9)) * env
        _place(out, g, int(t * SR))
        t += d + rng.uniform(0.15, 0.5) / rate
    return out


def _dog(rng, n, rate, pitch):
    out = np.zeros(n)
    f0 = rng.uniform(380, 650) * pitch
    formant = rng.uniform(900, 1600) * pitch
    for at in _periodic_times(rng, n, rng.uniform(0.9, 1.6) / rate, jitter=0.2):
        k = int(rng.integers(1, 4))
        for j in range(k):
            d = rng.uniform(0.12, 0.22)
            m = int(d * SR)
            tt = _t(m)
            inst = f0 * (1.15 - 0.35 * tt / d) * rng.uniform(0.92, 1.08)
            ph = 2 * np.pi * np.cumsum(inst) / SR
            y = np.zeros(m)
            for h in range(1, 16):
                fh = h * f0
                if fh > 7000:
                    break
                y += np.sin(h * ph) * np.exp(-0.5 * ((fh - formant) / 900) ** 2)
            noise = _fft_filter(rng.standard_normal(m), 500, 4000, order=2)
            y = y + 0.3 * noise / (np.std(noise) + 1e-9)
            _place(out, y * _env(m, 0.01, d / 2.5), at + int(j * rng.uniform(0.25, 0.35) / np.sqrt(rate) * SR))
    return out


@dataclasses.dataclass(frozen=True)
class EventType:
    name: str
    synth: tp.Callable
    nouns: tp.Tuple[str, ...]
    verbs: tp.Tuple[str, ...]
    modifiers: tp.Tuple[str, ...]
    words: tp.Tuple[str, ...]  # the event's own words (nouns/verbs) for explanation checks


_ALL = ("loud", "quiet", "distant")
EVENTS: tp.Tuple[EventType, ...] = (
    EventType("beep", _beep, ("beep", "electronic beep", "beeper", "alarm"), ("beeps", "is beeping", "sounds"),
              _ALL + ("fast", "slow", "high", "low"), ("beep", "beeps", "beeping", "beeper", "alarm")),
    EventType("siren", _siren, ("siren", "police siren", "ambulance siren"), ("wails", "is wailing", "blares"),
              _ALL + ("fast", "slow", "high", "low"), ("siren", "wails", "wailing", "blares", "police", "ambulance")),
    EventType("engine", _engine, ("engine", "motor", "car engine"), ("hums", "is idling", "rumbles", "runs"),
              _ALL + ("high", "low"), ("engine", "motor", "hums", "idling", "runs", "car")),
    EventType("rain", _rain, ("rain", "heavy rain", "rainfall"), ("falls", "is falling", "pours", "patters"),
              _ALL + ("fast", "slow"), ("rain", "rainfall", "falls", "falling", "pours", "patters")),
    EventType("wind", _wind, ("wind", "strong wind", "gusty wind"), ("blows", "is blowing", "howls", "gusts"),
              _ALL + ("high", "low"), ("wind", "blows", "blowing", "howls", "gusts", "gusty")),
    EventType("bell", _bell, ("bell", "church bell", "small bell"), ("rings", "is ringing", "chimes", "tolls"),
              _ALL + ("fast", "slow", "high", "low"), ("bell", "rings", "ringing", "chimes", "tolls", "church")),
    EventType("clock", _clock, ("clock", "wall clock", "clock"), ("ticks", "is ticking", "tick-tocks"),
              _ALL + ("fast", "slow", "high", "low"), ("clock", "ticks", "ticking", "tick")),
    EventType("knock", _knock, ("someone", "a person", "a visitor"), ("knocks on a door", "is knocking on the door", "knocks"),
              _ALL + ("fast", "slow", "low"), ("knocks", "knocking", "door", "knock")),
    EventType("bird", _bird, ("bird", "small bird", "songbird", "birds"), ("chirps", "is chirping", "tweets", "sings"),
              _ALL + ("fast", "slow", "high", "low"), ("bird", "birds", "songbird", "chirps", "chirping", "tweets", "sings")),
    EventType("footsteps", _footsteps, ("person", "man", "woman", "someone"), ("walks", "is walking", "takes footsteps", "walks by"),
              _ALL + ("fast", "slow"), ("walks", "walking", "footsteps", "steps")),
    EventType("thunder", _thunder, ("thunder", "thunder", "thunderstorm"), ("rumbles", "roars", "crashes", "is rumbling"),
              _ALL + ("low",), ("thunder", "thunderstorm", "rumbles", "rumbling", "roars", "crashes")),
    EventType("whistle", _whistle, ("whistle", "person", "man", "referee"), ("whistles", "blows a whistle", "is whistling"),
              _ALL + ("fast", "slow", "high", "low"), ("whistle", "whistles", "whistling", "referee")),
    EventType("dog", _dog, ("dog", "small dog", "large dog", "puppy"), ("barks", "is barking", "yaps"),
              _ALL + ("fast", "slow", "high", "low"), ("dog", "barks", "barking", "yaps", "puppy")),
)
EVENT_NAMES: tp.Tuple[str, ...] = tuple(e.name for e in EVENTS)
EVENT_INDEX = {e.name: i for i, e in enumerate(EVENTS)}
MODIFIERS = ("loud", "quiet", "distant", "fast", "slow", "high", "low")
FILLER_WORDS = ("a", "an", "the", "is", "in", "background", "and", "while", "then", "with", "as", "by",
                "followed", "after", "someone", "person", "man", "woman", "on", "of", "can", "be", "heard", "sound")

# adjective spellings of modifiers (several, so that the model is not tied to one word)
_ADJ = {"loud": ("loud",), "quiet": ("quiet", "soft"), "distant": ("distant", "faraway"),
        "fast": ("fast", "rapid"), "slow": ("slow",), "high": ("high", "high-pitched"),
        "low": ("low", "low-pitched", "deep")}
_ADV = {"loud": ("loudly",), "quiet": ("quietly", "softly"), "distant": ("in the distance", "far away"),
        "fast": ("quickly", "fast"), "slow": ("slowly",), "high": ("in a high pitch",),
        "low": ("in a low pitch",)}
_PERSON = ("someone", "a person", "a visitor", "person", "man", "woman", "referee")
_GAIN_DB = {"loud": 6.0, "quiet": -10.0, "distant": -7.0}


@dataclasses.dataclass
class EventOccurrence:
    """One event in a scene: where it sounds (seconds) and how."""
    name: str
    start: float
    end: float
    gain_db: float
    modifiers: tp.Tuple[str, ...]
    role: str  # 'main', 'first', 'second', 'both', 'background'

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Scene:
    caption: str
    audio: np.ndarray  # float32 [n]
    events: tp.List[EventOccurrence]
    relation: str  # 'single', 'then', 'after', 'while', 'background', 'triple'
    sample_rate: int = SR

    @property
    def names(self) -> tp.List[str]:
        return [e.name for e in self.events]

    def frame_labels(self, frame_rate: float = 25.0) -> np.ndarray:
        """Ground truth [n_events_in_world, frames] in {0, 1}: 1 where the event sounds."""
        n = int(round(len(self.audio) / SR * frame_rate))
        lab = np.zeros((len(EVENTS), n), dtype=np.float32)
        for ev in self.events:
            s = int(np.floor(ev.start * frame_rate))
            e = int(np.ceil(ev.end * frame_rate))
            lab[EVENT_INDEX[ev.name], max(s, 0):min(e, n)] = 1.0
        return lab


def render_event(rng: np.random.Generator, name: str, n: int, modifiers: tp.Sequence[str] = ()) -> np.ndarray:
    """Synthesize one event of ``n`` samples, normalised to the reference level, modifiers applied."""
    ev = EVENTS[EVENT_INDEX[name]]
    rate = 1.0 * rng.uniform(0.85, 1.15)
    pitch = 1.0 * rng.uniform(0.9, 1.1)
    if "fast" in modifiers:
        rate *= 1.8
    if "slow" in modifiers:
        rate *= 0.55
    if "high" in modifiers:
        pitch *= 1.6
    if "low" in modifiers:
        pitch *= 0.6
    y = _normalise(ev.synth(rng, n, rate, pitch))
    if "distant" in modifiers:
        y = _fft_filter(y, 0, 1800, order=2)
        m = int(0.35 * SR)
        ir = rng.standard_normal(m) * np.exp(-_t(m) / 0.08)
        ir[0] = 3.0
        y = np.convolve(y, ir / np.sqrt(np.sum(ir ** 2)), mode="full")[:n]
        y = _normalise(y)
    return y


def _phrase(rng: np.random.Generator, name: str, modifiers: tp.Sequence[str], background: bool = False) -> str:
    ev = EVENTS[EVENT_INDEX[name]]
    noun = ev.nouns[rng.integers(len(ev.nouns))]
    verb = ev.verbs[rng.integers(len(ev.verbs))]
    person = noun in _PERSON
    adjs = "" if person else " ".join(_ADJ[m][rng.integers(len(_ADJ[m]))] for m in modifiers)
    advs = " ".join(_ADV[m][rng.integers(len(_ADV[m]))] for m in modifiers) if person else ""
    np_ = (adjs + " " + noun).strip()
    uncountable = noun in ("rain", "heavy rain", "rainfall", "wind", "strong wind", "gusty wind", "thunder",
                           "someone", "a person", "a visitor", "birds")
    if uncountable:
        det = "" if not noun.startswith(("someone", "a ")) else ""
        if noun in ("rain", "wind", "thunder") and rng.random() < 0.3:
            det = "the "
    else:
        det = "an " if np_[0] in "aeiou" else "a "
        if rng.random() < 0.2:
            det = "the "
    if noun == "birds":
        verb = {"chirps": "chirp", "is chirping": "are chirping", "tweets": "tweet", "sings": "sing"}[verb]
    if rng.random() < 0.25 and not background:
        # gerund style: "a dog barking", "rain falling"
        ger = verb.split()
        if ger[0] == "is":
            return f"{det}{np_} {' '.join(ger[1:])} {advs}".strip()
    return f"{det}{np_} {verb} {advs}".strip()


def _mods(rng: np.random.Generator, name: str, p: float = 0.3) -> tp.Tuple[str, ...]:
    if rng.random() >= p:
        return ()
    allowed = EVENTS[EVENT_INDEX[name]].modifiers
    return (allowed[rng.integers(len(allowed))],)


def _cap(s: str) -> str:
    s = " ".join(s.split())
    return s[0].upper() + s[1:]


RELATIONS = ("single", "then", "after", "while", "background", "triple")
_REL_P = np.array([0.30, 0.26, 0.06, 0.16, 0.14, 0.08])


def make_scene(rng: np.random.Generator, relation: tp.Optional[str] = None,
               names: tp.Optional[tp.Sequence[str]] = None,
               modifiers: tp.Optional[tp.Sequence[tp.Sequence[str]]] = None,
               duration: float = CLIP_SECONDS) -> Scene:
    """Draw one scene: waveform, caption and ground-truth event timings, all from ``rng``.

    Args:
        rng: the random generator (the only source of randomness).
        relation: force a relation (see RELATIONS), else drawn.
        names: force the events (as many as the relation needs), else drawn without repetition.
        modifiers: force each event's modifiers, else drawn (30% of events get one).
    """
    n = int(duration * SR)
    if relation is None:
        relation = RELATIONS[rng.choice(len(RELATIONS), p=_REL_P)]
    k = {"single": 1, "then": 2, "after": 2, "while": 2, "background": 2, "triple": 3}[relation]
    if names is None:
        names = [EVENT_NAMES[i] for i in rng.choice(len(EVENTS), size=k, replace=False)]
    names = list(names)
    mods = [tuple(m) for m in modifiers] if modifiers is not None else [_mods(rng, nm) for nm in names]
    occ: tp.List[EventOccurrence] = []
    D = duration

    if relation == "single":
        start = rng.uniform(0, 0.8) if rng.random() < 0.5 else 0.0
        end = D if rng.random() < 0.6 else rng.uniform(max(start + 3.0, D - 1.0), D)
        occ.append(EventOccurrence(names[0], start, end, 0.0, mods[0], "main"))
        p = _phrase(rng, names[0], mods[0])
        tails = ["", "", "", " nearby", " in the background", " outside", " repeatedly", ""]
        caption = p + tails[rng.integers(len(tails))]
        if caption.endswith(" in the background") and rng.random() < 0.5:
            caption = p
        if rng.random() < 0.1 and not p.split()[-1].endswith("s"):
            caption = "the sound of " + p
    elif relation in ("then", "after"):
        b = rng.uniform(0.42, 0.58) * D
        occ.append(EventOccurrence(names[0], rng.uniform(0, 0.25), b, 0.0, mods[0], "first"))
        occ.append(EventOccurrence(names[1], b + rng.uniform(0, 0.1), D, 0.0, mods[1], "second"))
        p0, p1 = _phrase(rng, names[0], mods[0]), _phrase(rng, names[1], mods[1])
        if relation == "then":
            joins = [" then ", ", then ", " followed by ", " and then ", " before "]
            j = joins[rng.choice(len(joins), p=[0.4, 0.15, 0.2, 0.15, 0.1])]
            caption = p0 + j + p1
        else:
            caption = p1 + " after " + p0
    elif relation == "while":
        for i in range(2):
            s = rng.uniform(0, 0.3)
            occ.append(EventOccurrence(names[i], s, D, 0.0, mods[i], "both"))
        joins = [" while ", " as ", " and ", " together with "]
        p0, p1 = _phrase(rng, names[0], mods[0]), _phrase(rng, names[1], mods[1])
        caption = p0 + joins[rng.integers(len(joins))] + p1
    elif relation == "background":
        occ.append(EventOccurrence(names[0], rng.uniform(0, 0.4), D, 0.0, mods[0], "main"))
        occ.append(EventOccurrence(names[1], 0.0, D, -9.0, mods[1], "background"))
        p0, p1 = _phrase(rng, names[0], mods[0]), _phrase(rng, names[1], mods[1], background=True)
        if rng.random() < 0.5:
            caption = p0 + " with " + _noun_only(rng, names[1], mods[1]) + " in the background"
        else:
            caption = p0 + " while " + p1 + " in the background"
    else:  # triple: X then Y, with Z in the background
        b = rng.uniform(0.42, 0.58) * D
        occ.append(EventOccurrence(names[0], rng.uniform(0, 0.25), b, 0.0, mods[0], "first"))
        occ.append(EventOccurrence(names[1], b + rng.uniform(0, 0.1), D, 0.0, mods[1], "second"))
        occ.append(EventOccurrence(names[2], 0.0, D, -9.0, mods[2], "background"))
        p0, p1 = _phrase(rng, names[0], mods[0]), _phrase(rng, names[1], mods[1])
        caption = p0 + " then " + p1 + " with " + _noun_only(rng, names[2], mods[2]) + " in the background"

    audio = np.zeros(n)
    for ev in occ:
        s, e = int(ev.start * SR), int(ev.end * SR)
        y = render_event(rng, ev.name, e - s, ev.modifiers)
        gain = ev.gain_db + sum(_GAIN_DB.get(m, 0.0) for m in ev.modifiers)
        ev.gain_db = float(gain)
        fade = np.ones(e - s)
        f = min(int(0.02 * SR), (e - s) // 2)
        fade[:f] = np.linspace(0, 1, f)
        fade[len(fade) - f:] = np.linspace(1, 0, f)
        audio[s:e] += y * fade * 10 ** (gain / 20)
    audio += 10 ** (-55 / 20) * rng.standard_normal(n)  # room noise floor
    peak = np.max(np.abs(audio))
    if peak > 0.95:
        audio *= 0.95 / peak
    for ev in occ:
        ev.start, ev.end = float(round(ev.start, 4)), float(round(ev.end, 4))
    return Scene(_cap(caption), audio.astype(np.float32), occ, relation)


def _noun_only(rng, name, mods) -> str:
    ev = EVENTS[EVENT_INDEX[name]]
    plain = {"knock": ("knocking", "knocks on a door"), "footsteps": ("footsteps", "steps"),
             "whistle": ("a whistle", "whistling"), "clock": ("a ticking clock", "clock ticks"),
             "bird": ("birds chirping", "bird chirps"), "dog": ("a dog barking", "dogs barking"),
             "beep": ("beeping", "beeps"), "engine": ("an engine humming", "engine noise")}
    opts = plain.get(name, (ev.nouns[0],))
    base = opts[rng.integers(len(opts))]
    if mods:
        a = _ADJ[mods[0]][rng.integers(len(_ADJ[mods[0]]))]
        if base.startswith(("a ", "an ")):
            base = base.split(" ", 1)[1]
        base = f"{a} {base}"
    return base


def scene_from_seed(seed: int, **kw) -> Scene:
    """The scene number ``seed`` (deterministic)."""
    return make_scene(np.random.default_rng(seed), **kw)


def caption_events(caption: str) -> tp.List[str]:
    """Best-effort parse: which world events a free caption names (by their own words)."""
    words = [w.strip(".,;!?").lower() for w in caption.replace("-", " ").split()]
    found = []
    for ev in EVENTS:
        if any(w in ev.words for w in words) and ev.name not in found:
            found.append(ev.name)
    return found
