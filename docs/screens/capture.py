"""Capture the app's main window for a before/after comparison (issue 16).

Runs the real entry point (``agx_desktop.ui.app.main``) on an X server (Xvfb), with a fresh data dir
whose settings.json sets the README screenshot's inputs, then drives it only as a user would
(a click on Generate + Explain) and what a user sees (the progress bar's text), so the same
script works on any version of the window. Usage (from the repo root)::

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screens/capture.py before
    xvfb-run -s "-screen 0 1280x720x24" .venv/bin/python docs/screens/capture.py after --size 1280x720

``--size WxH`` resizes the window to WxH (on a screen that size: the app fits it there by itself) and
writes only ``TAG-WxH.png`` after Generate + Explain (5 epochs, to be quick). ``--method NAME`` and
``--word-view paper|sound`` set the explainer and the bars' view in the fresh settings.
"""
from __future__ import annotations

import os
import sys
import time

from shotlib import fresh_data_dir, progress_text, window

args = sys.argv[1:]
OPTIONS = ("--size", "--method", "--word-view")
size, method, word_view = (args[args.index(o) + 1] if o in args else "" for o in OPTIONS)
args = [a for i, a in enumerate(args) if a not in OPTIONS and (i == 0 or args[i - 1] not in OPTIONS)]
tag = args[0] if args else "shot"
out_dir = os.path.dirname(os.path.abspath(__file__))
fresh_data_dir({"prompt": "a dog barks then a bell rings", "duration": 4.0, "seed": 1, "epochs": 5 if size else 30,
                **({"method": method} if method else {}), **({"word_view": word_view} if word_view else {})})

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QPushButton  # noqa: E402

app = QApplication(sys.argv[:1])
t0 = time.monotonic()


def shoot(name: str) -> None:
    w = window()
    if size and name != "explained":
        return
    path = os.path.join(out_dir, f"{tag}-{size or name}.png")
    w.grab().save(path)  # the window itself

    print(f"{time.monotonic() - t0:6.1f}s wrote {path} (progress: {progress_text()!r})", flush=True)


state = {"step": "wait-start"}


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
        QTimer.singleShot(1500, lambda: (shoot("start"), state.update(step="go")))
        state["step"] = "settling"
    elif state["step"] == "go":
        if size:
            width, height = (int(v) for v in size.split("x"))
            w.resize(width, height)
            print(f"window {w.frameGeometry().getRect()} on screen {w.screen().availableGeometry().getRect()}",
                  flush=True)
        button = next(b for b in w.findChildren(QPushButton) if b.text() == "Generate + Explain")
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)
        state["step"] = "wait-explain"
    elif state["step"] == "wait-explain" and text.startswith("Done: Generate + explain"):
        QTimer.singleShot(1500, lambda: (shoot("explained"), state.update(step="done")))
        state["step"] = "settling"
    elif state["step"] == "done":
        w.close()
        return
    QTimer.singleShot(200, drive)


QTimer.singleShot(500, drive)
from agx_desktop.ui.app import main  # noqa: E402

sys.exit(main([]))
