"""Remembered settings: a small JSON file in the data dir, written atomically.

Reading never fails (defaults for what is missing or malformed); writing into a read-only or
unusable data folder is skipped silently: the app already says autosave is off.
"""
from __future__ import annotations

import json
import typing as tp
from dataclasses import asdict, dataclass, field, fields, make_dataclass

from agx_desktop.engine.delivery.loudness import CEILING_DB, MAX_LIMIT_DB
from agx_desktop.engine.fsio import is_finite_number, write_json_atomic
from agx_desktop.engine.take import GenerationParams

from .paths import settings_path

DEFAULT_PATTERN = "{catid}_{fxname}_{creator}_{source}"


@dataclass
class ExportSettings:
    folder: str = ""
    subtype: str = "PCM_24"          # PCM_16 | PCM_24 | FLOAT
    sample_rate: int = 0             # 0 = native, else 44100 / 48000
    normalize: str = "lufs"          # none | lufs | peak
    lufs: float = -14.0
    peak_db: float = -1.0
    true_peak: float = CEILING_DB     # dBTP ceiling the limiter keeps (4x oversampled measurement)
    max_limit: float = MAX_LIMIT_DB   # most gain reduction the limiter may apply to reach the target
    pattern: str = DEFAULT_PATTERN
    catid: str = "MISCMisc"
    creator: str = "AGX"
    source: str = "AGXDesktop"


def _fits(value: tp.Any, default: tp.Any) -> bool:
    """Whether a stored ``value`` may replace ``default``: same type, numbers finite (an int for a float)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        ok_type = isinstance(value, int) if isinstance(default, int) else isinstance(value, (int, float))
        return ok_type and is_finite_number(value)
    return isinstance(value, type(default))


SAMPLING_FIELDS = ("cfg_coef", "top_k", "temperature")
#: The fixed sampling defaults before sampling followed the model: a record of the past (settings
#: files written then are read against it), so it stays as written even if the engine's change.
OLD_SAMPLING_DEFAULTS = {"cfg_coef": 3.0, "top_k": 250, "temperature": 1.0}
#: :class:`GenerationParams` fields the app has no control for (top-p is set from the CLI only).
NOT_IN_APP = frozenset({"top_p"})
#: Where the app's first-start value differs from the engine's, and why: the app starts on the
#: bundled model, whose config.json samples at temperature 0.8 (sampling then follows the loaded
#: model unless the user sets it, see ``sampling_custom``).
APP_OVERRIDES: dict[str, tp.Any] = {"temperature": 0.8}

# The generation fields of Settings, one per GenerationParams field the app shows, with the
# engine's defaults (except APP_OVERRIDES): the engine's dataclass is the one list of them.
_GenerationSettings = make_dataclass("_GenerationSettings", [
    (f.name, f.type, field(default=APP_OVERRIDES.get(f.name, f.default)))
    for f in fields(GenerationParams) if f.name not in NOT_IN_APP])


@dataclass
class Settings(_GenerationSettings):
    """What the app remembers between runs: the :class:`GenerationParams` fields the app shows
    (inherited, see above) and the app's own."""

    prompt: str = "a dog barks then a bell rings"
    model: str = "bundled"
    # Which of "cfg_coef", "top_k", "temperature" the user set; the others follow the loaded model.
    sampling_custom: list = field(default_factory=list)
    epochs: int = 50
    method: str = "audiogenx"
    variations: int = 3
    # The importance bars' view (issue 18): "paper" = every word in prompt order (the default), "sound" =
    # sound words first, then context and function words, apart; the scores are the paper's in both.
    word_view: str = "paper"
    # Speed settings for sampling (issue 20; Model menu): {"int8": bool, "bf16": bool, "threads": int, 0 =
    # the model's own}; empty = all off (a take made with one is not the float32 take of its seed).
    speed: dict = field(default_factory=dict)
    loop: bool = False
    geometry: str = ""
    state: str = ""
    export: ExportSettings = field(default_factory=ExportSettings)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Settings":
        s = cls()
        names = {f.name for f in fields(cls)}
        for k, v in (d or {}).items():
            if k == "export" and isinstance(v, dict):
                ex = ExportSettings()
                ex_names = {f.name for f in fields(ExportSettings)}
                for ek, ev in v.items():
                    if ek in ex_names and _fits(ev, getattr(ex, ek)):
                        setattr(ex, ek, type(getattr(ex, ek))(ev))
                s.export = ex
            elif k in names and k != "export":
                default = getattr(s, k)
                if _fits(v, default):
                    setattr(s, k, type(default)(v))
        s.sampling_custom = [f for f in s.sampling_custom if isinstance(f, str) and f in SAMPLING_FIELDS]
        if d and "sampling_custom" not in d:
            # Settings from before sampling followed the model: keep what the user had changed from
            # the old fixed defaults.
            s.sampling_custom = [f for f, old in OLD_SAMPLING_DEFAULTS.items()
                                 if f in d and getattr(s, f) != old]
        return s


def load_settings() -> Settings:
    """Settings from disk; defaults if the file is missing or unreadable (never raises)."""
    try:
        return Settings.from_dict(json.loads(settings_path().read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError):
        return Settings()


def save_settings(s: Settings) -> None:
    try:
        write_json_atomic(settings_path(), s.to_dict())
    except (OSError, ValueError, TypeError):
        pass  # a read-only or unusable data dir (or an odd value) must not break quitting


__all__: tp.List[str] = ["Settings", "ExportSettings", "load_settings", "save_settings", "DEFAULT_PATTERN"]
