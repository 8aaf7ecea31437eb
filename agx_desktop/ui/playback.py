"""Audio playback whose playhead follows the output stream's clock.

The stream's callback records, for every block it fills, which source frame it starts at and the
stream time at which that block reaches the DAC (``time.outputBufferDacTime``). :meth:`Player.position`
maps the stream's current time (``stream.time``) back to a source frame, so the playhead shows
what is being *heard* (latency included) rather than what a free-running timer guesses. The stream
class is injectable: tests pass a fake stream whose clock they move by hand.

Without PortAudio (``sounddevice`` raises ``OSError`` at import) or an output device, the player
is created with ``available = False`` and ``reason`` says why; the app disables its transport.
"""
from __future__ import annotations

import bisect
import functools
import threading
import time
import typing as tp

import numpy as np

from agx_desktop.engine.audio import resample


def _default_stream_factory() -> tuple[tp.Callable[..., tp.Any] | None, str]:
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio missing
        return None, f"Playback is off: {exc} (install PortAudio, e.g. libportaudio2, to hear takes)"
    except ImportError as exc:
        return None, f"Playback is off: the sounddevice package is missing ({exc})"
    try:
        sd.query_devices(kind="output")
    except Exception as exc:  # no default output device
        return None, f"Playback is off: no audio output device ({str(exc).splitlines()[0]})"
    return sd.OutputStream, ""


@functools.cache
def _callback_stop() -> type[BaseException] | None:
    """sounddevice's CallbackStop (a callback raises it to end the stream), None without PortAudio;
    looked up once: a failed import is retried on every import statement, and callbacks run often."""
    try:
        import sounddevice as sd
    except (ImportError, OSError):
        return None
    return sd.CallbackStop


class PlaybackError(Exception):
    """The output device refused to play (one line, shown to the user)."""


class Player:
    """Plays one float32 buffer [channels, samples] with optional looping of a region.

    Thread-safety: the stream callback runs on the audio thread; everything it shares with the
    GUI thread is guarded by ``_lock``.
    """

    def __init__(self, stream_factory: tp.Callable[..., tp.Any] | None = None, reason: str = "",
                 blocksize: int = 512, fallback_rate: int = 48000) -> None:
        if stream_factory is None and not reason:
            stream_factory, reason = _default_stream_factory()
        self._factory = stream_factory
        self.reason = reason if stream_factory is None else ""
        self.blocksize = blocksize
        self.fallback_rate = fallback_rate  # tried when the device refuses the take's own rate
        self._lock = threading.Lock()
        self._buf = np.zeros((0, 1), np.float32)  # [samples, channels]
        self._sr = 16000
        self._read = 0  # next source frame the callback will copy
        self._loop: tuple[int, int] | None = None
        self._marks_t: list[float] = []  # dac times of segment starts
        self._marks: list[tuple[int, int]] = []  # (source start frame, length)
        self._stream: tp.Any = None
        self._paused_at = 0  # source frame shown while not playing
        self._ended = False
        self._streaming = False  # the buffer grows as a take is generated (play as it generates)
        self._streamed_final: np.ndarray | None = None  # the take that replaced a streamed buffer

    # ------------------------------------------------------------------ state
    @property
    def available(self) -> bool:
        return self._factory is not None

    @property
    def sample_rate(self) -> int:
        return self._sr

    @property
    def duration(self) -> float:
        return len(self._buf) / float(self._sr) if self._sr else 0.0

    @property
    def playing(self) -> bool:
        return self._stream is not None and not self._ended

    @property
    def streaming(self) -> bool:
        return self._streaming

    @property
    def buffered_frames(self) -> int:
        """Frames the buffer holds (while streaming: what has been decoded so far)."""
        return len(self._buf)

    def begin_stream(self, sample_rate: int, channels: int) -> None:
        """Start an empty, growing buffer: :meth:`append` adds decoded audio, :meth:`finish_stream` ends it.
        While streaming, the callback plays silence at the buffer's end and waits (the playhead stays at
        the last decoded frame) instead of ending."""
        self._close_stream()
        with self._lock:
            self._buf, self._sr = np.zeros((0, int(channels)), np.float32), int(sample_rate)
            self._read = self._paused_at = 0
            self._marks_t, self._marks = [], []
            self._loop = None
            self._streaming, self._streamed_final = True, None

    def append(self, chunk: np.ndarray) -> bool:
        """Add ``chunk`` [channels, n] at the buffer's end (False, nothing done, when not streaming)."""
        if not self._streaming:
            return False
        piece = np.asarray(chunk, dtype=np.float32).T
        with self._lock:
            if piece.shape[1] != self._buf.shape[1]:
                return False
            self._buf = np.ascontiguousarray(np.concatenate([self._buf, piece], axis=0))
        return True

    def finish_stream(self, audio: np.ndarray) -> bool:
        """Replace the streamed buffer (previews) by the take's ``audio``, keeping the position: no jump,
        playback goes on. A later :meth:`load` of this same array keeps playing too."""
        if not self._streaming:
            return False
        buf = np.ascontiguousarray(np.asarray(audio, dtype=np.float32).T)
        with self._lock:
            self._buf = buf
            self._read = min(self._read, len(buf))
            self._paused_at = min(self._paused_at, len(buf))
            self._streaming, self._streamed_final = False, audio
        return True

    def load(self, audio: np.ndarray | None, sample_rate: int, keep_position: bool = False) -> None:
        """Set the buffer; while playing, keeps playing the new audio from the same position (A/B)."""
        if audio is not None and audio is self._streamed_final and int(sample_rate) == self._sr:
            self._streamed_final = None  # the take just streamed: it is already playing
            return
        self._streaming, self._streamed_final = False, None
        buf = np.zeros((0, 1), np.float32) if audio is None else np.ascontiguousarray(
            np.asarray(audio, dtype=np.float32).T)
        pos_s = self.position()
        was_playing = self.playing
        same_format = int(sample_rate) == self._sr and buf.shape[1] == self._buf.shape[1]
        restart = was_playing and not same_format
        # A/B while playing: the device already holds the blocks up to the read pointer, so the new audio
        # carries on from there (sample-accurate): the playhead and what is heard go on without a jump.
        # Restarting at the heard position instead would replay the device's latency (~80 ms).
        handover = was_playing and keep_position and same_format
        if restart:
            self._close_stream()
        with self._lock:
            self._buf, self._sr = buf, int(sample_rate)
            if handover:
                self._read = min(self._read, len(buf))
                self._paused_at = min(self._paused_at, len(buf))
            else:
                pos = min(int(pos_s * self._sr), len(buf)) if keep_position else 0
                self._read = pos
                self._paused_at = pos
                self._marks_t, self._marks = [], []
            if self._loop and self._loop[1] > len(buf):
                self._loop = None
        if was_playing and not keep_position:
            self._close_stream()
        elif restart:
            self.play()

    def set_loop(self, region: tuple[float, float] | None) -> None:
        """Loop ``(start_s, end_s)`` while playing; ``None`` plays to the end."""
        with self._lock:
            if region is None:
                self._loop = None
                return
            a = max(0, int(round(region[0] * self._sr)))
            b = min(len(self._buf), int(round(region[1] * self._sr)))
            self._loop = (a, b) if b - a > 16 else None

    # ------------------------------------------------------------------ clock
    def position_frames(self) -> int:
        """The source frame being heard now, from the stream clock."""
        stream = self._stream
        if stream is None:
            return self._paused_at
        with self._lock:
            if not self._marks_t:
                return self._read if self._ended else self._paused_at
            now = self._now()
            i = bisect.bisect_right(self._marks_t, now) - 1
            if i < 0:
                return self._marks[0][0]
            start, length = self._marks[i]
            elapsed = int((now - self._marks_t[i]) * self._sr)
            return start + max(0, min(elapsed, length))

    def _now(self) -> float:
        """The stream's clock (PortAudio's stream time); a monotonic clock where a host API lacks one."""
        t = float(getattr(self._stream, "time", 0.0) or 0.0)
        return t if t > 0 or isinstance(self._stream, FakeStream) else time.monotonic()

    def position(self) -> float:
        return self.position_frames() / float(self._sr)

    # ------------------------------------------------------------------ transport
    def play(self, start: float | None = None) -> None:
        if not self.available or len(self._buf) == 0:
            return
        if self._stream is not None and not self._ended:
            return
        self._close_stream()
        with self._lock:
            frame = self._paused_at if start is None else int(start * self._sr)
            if frame >= len(self._buf):
                frame = 0
            if self._loop and not (self._loop[0] <= frame < self._loop[1]):
                frame = self._loop[0]
            self._read = frame
            self._paused_at = frame
            self._marks_t, self._marks = [], []
            self._ended = False
        try:
            self._open_stream()
        except Exception as exc:  # e.g. the device refuses 16 kHz (WASAPI exclusive, some USB interfaces)
            self._stream = None
            if self.fallback_rate and self._sr != self.fallback_rate:
                self._resample_buffer(self.fallback_rate)
                try:
                    self._open_stream()
                    return
                except Exception as exc2:
                    self._stream = None
                    exc = exc2
            raise PlaybackError(f"cannot play: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc

    def _open_stream(self) -> None:
        self._stream = self._factory(samplerate=self._sr, channels=self._buf.shape[1], dtype="float32",
                                     callback=self._callback, blocksize=self.blocksize)
        self._stream.start()

    def _resample_buffer(self, rate: int) -> None:
        """Play at ``rate`` instead (positions are kept in seconds)."""
        with self._lock:
            ratio = rate / self._sr
            self._buf = np.ascontiguousarray(resample(self._buf, self._sr, rate, axis=0))
            self._paused_at = self._read = int(self._paused_at * ratio)
            if self._loop:
                self._loop = (int(self._loop[0] * ratio), int(self._loop[1] * ratio))
            self._sr = int(rate)

    def pause(self) -> None:
        if self._stream is None:
            return
        pos = self.position_frames()
        self._close_stream()
        self._paused_at = pos

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def stop(self) -> None:
        self._close_stream()
        with self._lock:
            self._paused_at = self._loop[0] if self._loop else 0
            self._read = self._paused_at

    def seek(self, seconds: float) -> None:
        frame = int(np.clip(seconds * self._sr, 0, max(0, len(self._buf) - 1)))
        if self.playing:
            self._close_stream()
            self._paused_at = frame
            self.play()
        else:
            self._paused_at = frame

    def poll(self) -> bool:
        """Call from the GUI: closes a stream that reached the end; returns whether it plays."""
        if self._stream is not None and self._ended:
            end = self.position_frames()
            active = bool(getattr(self._stream, "active", False))
            if not active or end >= len(self._buf):
                self._close_stream()
                self._paused_at = 0
        return self.playing

    def close(self) -> None:
        self._close_stream()

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:
                pass
        self._ended = False

    # ------------------------------------------------------------------ audio thread
    def _callback(self, outdata: np.ndarray, frames: int, time_info: tp.Any, status: tp.Any) -> None:
        dac = float(getattr(time_info, "outputBufferDacTime", 0.0) or 0.0)
        if dac <= 0 and not isinstance(self._stream, FakeStream):  # host API without DAC times
            dac = self._now() + float(getattr(self._stream, "latency", 0.0) or 0.0)
        with self._lock:
            filled = 0
            buf, n = self._buf, len(self._buf)
            while filled < frames:
                end = self._loop[1] if self._loop else n
                if self._read >= end:
                    if self._loop:
                        self._read = self._loop[0]
                        continue
                    if self._streaming:  # not decoded yet: silence, the playhead waits at the end
                        outdata[filled:] = 0
                        self._marks_t.append(dac + filled / self._sr)
                        self._marks.append((self._read, 0))
                        break
                    outdata[filled:] = 0
                    self._ended = True
                    break
                take = min(frames - filled, end - self._read)
                outdata[filled:filled + take] = buf[self._read:self._read + take]
                self._marks_t.append(dac + filled / self._sr)
                self._marks.append((self._read, take))
                self._read += take
                filled += take
            if self._ended:
                self._marks_t.append(dac + filled / self._sr)
                self._marks.append((n, 0))
            if len(self._marks) > 512:  # keep the recent history only
                del self._marks_t[:256], self._marks[:256]
        stop = _callback_stop()
        if self._ended and stop is not None:
            raise stop


class FakeStream:
    """A stand-in for ``sounddevice.OutputStream`` whose clock tests move by hand (:meth:`pump`)."""

    def __init__(self, samplerate: int, channels: int, callback: tp.Callable, blocksize: int = 512,
                 latency: float = 0.05, **_: tp.Any) -> None:
        self.samplerate, self.channels, self.callback = samplerate, channels, callback
        self.blocksize, self.latency = blocksize, latency
        self.time = 0.0
        self.active = False
        self._written = 0  # frames handed to the "device"

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def close(self) -> None:
        self.active = False

    def pump(self, seconds: float) -> None:
        """Advance the clock by ``seconds``, running the callback as a device would."""
        stop = _callback_stop()  # where PortAudio is installed the player's callback ends a take with it
        callback_stop: tuple[type[BaseException], ...] = () if stop is None else (stop,)
        target = self.time + seconds
        while self.active and (self._written / self.samplerate) < target + self.latency:
            out = np.zeros((self.blocksize, self.channels), np.float32)
            dac = self._written / self.samplerate + self.latency

            class _T:
                outputBufferDacTime = dac
            try:
                self.callback(out, self.blocksize, _T, None)
            except callback_stop:  # as a real stream: this block plays, then the stream goes inactive
                self._written += self.blocksize
                self.active = False
                break
            self._written += self.blocksize
        self.time = target
