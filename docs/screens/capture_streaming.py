"""Screenshots of Play as it generates (issue 20 item 2): the timeline filling in with the take being made.

Runs the real entry point (``agx_desktop.ui.app.main``) on an X server, makes a first take, turns on
Play as it generates, types another prompt and presses Generate as a user would, and while the take is
generated grabs the screen with ImageMagick (``import -window root``) as the decoded audio passes 30, 55
and 80 % of the take. Needs an output device for the player (PulseAudio with a null sink will do).
Usage (from the repo root)::

    Xvfb :58 -screen 0 1280x720x24 &
    pulseaudio -D --exit-idle-time=-1 && pactl load-module module-null-sink sink_name=shot \\
        && pactl set-default-sink shot
    DISPLAY=:58 .venv/bin/python docs/screens/capture_streaming.py [OUT_DIR]

Writes OUT_DIR/streaming-30.png, -55.png, -80.png and -done.png (OUT_DIR: /tmp by default); the README's
docs/screens/streaming.png is the one of them that reads best.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from shotlib import fresh_data_dir, progress_text, window

out_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()
fresh_data_dir({"prompt": "a dog barks then a bell rings", "duration": 6.0, "seed": 1}, prefix="agx-stream-shot-")

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

app = QApplication(sys.argv[:1])
t0 = time.monotonic()
state: dict = {"step": "wait-model", "marks": [30, 55, 80], "shots": []}


def grab(tag: str) -> None:
    """The whole screen as the X server has it, without stopping the app's event loop."""
    path = os.path.join(out_dir, f"streaming-{tag}.png")
    state["shots"].append(subprocess.Popen(["import", "-window", "root", path]))
    print(f"{time.monotonic() - t0:6.1f}s grab {path} ({progress_text()!r})", flush=True)


def drive() -> None:
    w = window()
    text = progress_text()
    if time.monotonic() - t0 > 600:
        print("timeout", text, flush=True)
        app.quit()
        return
    if state.get("said") != (state["step"], text):
        state["said"] = (state["step"], text)
        print(f"{time.monotonic() - t0:6.1f}s {state['step']}: {text!r}", flush=True)
    if w is None:
        pass
    elif state["step"] == "wait-model" and text.startswith("Done: Load model"):
        QTest.mouseClick(w.generation.generate_btn, Qt.MouseButton.LeftButton)  # a first take, seen before
        state["step"] = "wait-first"
    elif state["step"] == "wait-first" and text.startswith("Done: Generate"):
        QTest.mouseClick(w.jobs.play_live_btn, Qt.MouseButton.LeftButton)
        w.generation.prompt_edit.setText("rain on a tin roof, then thunder")
        QTest.mouseClick(w.generation.generate_btn, Qt.MouseButton.LeftButton)
        state["step"] = "streaming"
    elif state["step"] == "streaming":
        preview = w.timeline.preview
        if preview is not None and state["marks"]:
            done = 100 * preview.decoded_seconds / preview.total_seconds
            if done >= state["marks"][0]:
                grab(str(state["marks"].pop(0)))
        if text.startswith("Done: Generate"):
            state["step"] = "settle"
            QTimer.singleShot(1200, lambda: (grab("done"), state.update(step="quit")))
    elif state["step"] == "quit" and all(p.poll() is not None for p in state["shots"]):
        w.player.stop()
        w.close()
        return
    QTimer.singleShot(15, drive)


QTimer.singleShot(500, drive)
from agx_desktop.ui.app import main  # noqa: E402

sys.exit(main([]))
