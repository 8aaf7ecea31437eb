"""Capture the "Sound words first" view of the importance bars (issue 18) at 1280x720.

Runs the real entry point (``agx_desktop.ui.app.main``) on an X server with a fresh data dir whose
settings.json chooses the sound view, clicks Generate + Explain as a user would (bundled model, 4 s,
seed 1, 5 epochs), then writes ``word_kinds.png``; ``--interval A B`` also selects A-B s and
``--contrast`` ticks the contrast variant (written as ``word_kinds_interval.png``). Usage::

    Xvfb :57 -screen 0 1280x720x24 &
    DISPLAY=:57 .venv/bin/python docs/screens/capture_word_kinds.py [--interval 0 2 [--contrast]]
"""
from __future__ import annotations

import os
import sys
import time

from shotlib import fresh_data_dir, progress_text, window

args = sys.argv[1:]
interval = tuple(float(v) for v in args[args.index("--interval") + 1:args.index("--interval") + 3]) \
    if "--interval" in args else None
contrast = "--contrast" in args
out_dir = os.path.dirname(os.path.abspath(__file__))
name = "word_kinds.png" if interval is None else "word_kinds_interval.png"
fresh_data_dir({"prompt": "a dog barks then a bell rings", "duration": 4.0, "seed": 1, "epochs": 5,
                "word_view": "sound"})

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QPushButton  # noqa: E402

app = QApplication(sys.argv[:1])
t0 = time.monotonic()
state = {"step": "wait-start"}


def shoot() -> None:
    w = window()
    if interval is not None:
        w.session.set_selection(interval)
        w.importance.contrast_box.setChecked(contrast)
        app.processEvents()
    path = os.path.join(out_dir, name)
    w.grab().save(path)
    print(f"{time.monotonic() - t0:6.1f}s wrote {path}", flush=True)


def drive() -> None:
    w = window()
    text = progress_text()
    if time.monotonic() - t0 > 900:
        print("timeout", text, flush=True)
        app.quit()
        return
    if w is None:
        pass
    elif state["step"] == "wait-start" and text.startswith("Done: Load model"):
        w.resize(1280, 720)
        button = next(b for b in w.findChildren(QPushButton) if b.text() == "Generate + Explain")
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)
        state["step"] = "wait-explain"
    elif state["step"] == "wait-explain" and text.startswith("Done: Generate + explain"):
        QTimer.singleShot(1500, lambda: (shoot(), state.update(step="done")))
        state["step"] = "settling"
    elif state["step"] == "done":
        w.close()
        return
    QTimer.singleShot(200, drive)


QTimer.singleShot(500, drive)
from agx_desktop.ui.app import main  # noqa: E402

sys.exit(main([]))
