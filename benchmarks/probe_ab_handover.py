"""A/B switch while playing, heard through a real audio server: does what is heard jump back?

Plays take A, a rising ramp (0.1 → 0.9 over 4 s, so a sample's value says its position), through
sounddevice/PortAudio into a PulseAudio null sink, records the sink's monitor with ``parec``, and
1.5 s in switches to take B, the same ramp negated, keeping the position as the app's A/B does
(``Player.load(..., keep_position=True)``). In the recording the switch is where the sign flips;
the step of |value| across it, divided by the ramp's step per sample heard just before (whatever the
server's volume), is the jump in samples (0 = seamless, negative = heard again).

Needs pulseaudio, pulseaudio-utils and libportaudio2 (apt). ``--player REV`` measures the player of
a git revision (e.g. the one before the handover fix) for comparison. Writes nothing; prints a line
per run. Usage: ``python benchmarks/probe_ab_handover.py [--runs 5] [--player 1352119^]``.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SR, SECONDS, SWITCH_AT = 48000, 4.0, 1.5
SINK = "agx_probe"


def start_server() -> None:
    """A user PulseAudio with a null sink as the default output (kept if one already runs)."""
    if subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
        subprocess.run(["pulseaudio", "-D", "--exit-idle-time=-1"], check=True)
        for _ in range(50):
            if subprocess.run(["pactl", "info"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
    sinks = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True).stdout
    if SINK not in sinks:
        subprocess.run(["pactl", "load-module", "module-null-sink", f"sink_name={SINK}",
                        f"rate={SR}", "channels=1", "format=float32le"], check=True, capture_output=True)
    subprocess.run(["pactl", "set-default-sink", SINK], check=True)
    subprocess.run(["pactl", "set-sink-volume", SINK, "100%"], check=True)


def player_class(rev: str | None) -> type:
    if rev is None:
        from agx_desktop.ui.playback import Player
        return Player
    source = subprocess.run(["git", "show", f"{rev}:agx_desktop/ui/playback.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "playback_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("playback_rev", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Player


def one_run(Player: type) -> float:
    """The jump in seconds of source position heard at the switch (0 = seamless, < 0 = rewound)."""
    ramp = np.linspace(0.1, 0.9, int(SR * SECONDS), dtype=np.float32)[None, :]
    raw = Path(tempfile.mkdtemp()) / "rec.f32"
    rec = subprocess.Popen(["parec", "-d", f"{SINK}.monitor", "--format=float32le", f"--rate={SR}",
                            "--channels=1", "--latency-msec=20", str(raw)])
    time.sleep(0.5)
    player = Player()
    if not player.available:
        raise SystemExit(player.reason)
    player.load(ramp, SR)
    player.play()
    time.sleep(SWITCH_AT)
    player.load(-ramp, SR, keep_position=True)
    time.sleep(1.2)
    player.stop()
    player.close()
    time.sleep(0.3)
    rec.terminate()
    rec.wait()
    y = np.abs(np.fromfile(raw, dtype=np.float32))
    flip = int(np.flatnonzero(np.fromfile(raw, dtype=np.float32) < -0.05)[0])  # first sample of B heard
    window = y[max(0, flip - int(0.3 * SR)):flip]  # A heard just before (the recording may start late)
    per_sample = float(np.median(np.diff(window))) if len(window) > 0.05 * SR else 0.0  # the ramp's step × gain
    if not per_sample > 0:
        raise RuntimeError(f"the recording holds no rising ramp before the switch (B first heard at sample {flip} "
                         f"of {len(y)}): the server dropped audio")
    return ((y[flip] - y[flip - 1]) / per_sample - 1.0) / SR


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--player", default=None, help="git revision whose ui/playback.py to measure")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("PULSE_SINK", SINK)
    start_server()
    Player = player_class(args.player)
    jumps, dropped = [], 0
    while len(jumps) < args.runs and dropped < 2 * args.runs:
        try:
            jumps.append(one_run(Player))
        except RuntimeError as exc:  # parec started after the switch: that run says nothing, run again
            dropped += 1
            print(f"run again: {exc}", file=sys.stderr)
    label = args.player or "working tree"
    print(f"player of {label}: jump at the A/B switch, ms (negative = heard again): "
          + ", ".join(f"{j * 1000:+.1f}" for j in jumps) + f"; median {np.median(jumps) * 1000:+.1f} ms ({dropped} recording(s) started too late, run again)")


if __name__ == "__main__":
    main()
