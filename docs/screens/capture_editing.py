"""Screenshots of the prompt timeline dialog and of a guided edit's ranked candidates (issue 17).

Builds the window on the bundled model (a fresh data dir), generates the dialog's example timeline
("0–2.5 s: a dog barks", "2.5–5 s: a church bell rings"), explains it (AudioGenX, 20 epochs: the heatmap
draws each segment's words over its own time), shoots the screen with the dialog open, then runs a
guided edit ("none" for bell in 2.5–5 s, 4 candidates per round, at most 2 rounds) and shoots each round
and the ranked candidates.
Usage (from the repo root)::

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screens/capture_editing.py
"""
from __future__ import annotations

import os
import sys
import time

from shotlib import fresh_data_dir

fresh_data_dir()
out_dir = os.path.dirname(os.path.abspath(__file__))

from PySide6.QtWidgets import QApplication  # noqa: E402

from agx_desktop.ui.app import apply_style  # noqa: E402
from agx_desktop.ui.main_window import MainWindow  # noqa: E402
from agx_desktop.ui.playback import FakeStream, Player  # noqa: E402

app = QApplication(sys.argv[:1])
apply_style(app)
t0 = time.monotonic()


def settle(w: MainWindow, seconds: float = 1.0) -> None:
    """Run the event loop until the job queue is idle, then ``seconds`` more."""
    while w.runner.busy or w.runner.pending or w.display_pending():
        app.processEvents()
        time.sleep(0.02)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


w = MainWindow(player=Player(stream_factory=FakeStream), load_autosaved=False)
w.resize(1560, 960)
w.move(0, 0)
w.show()
settle(w)
w.session.set_params(duration=5.0, seed=1)
w.commands.trigger("timeline")
w.timeline_dialog.generate_btn.click()
settle(w)
w.generation.explainer.form.set_value("epochs", 20)
w.commands.trigger("explain")
settle(w)
w.commands.trigger("timeline")  # open again: it shows the take's segments
w.timeline_dialog.move(60, 660)  # over the bars and chips: the heatmap stays in view
settle(w, 1.5)
app.primaryScreen().grabWindow(0, 0, 0, 1560, 960).save(os.path.join(out_dir, "timeline.png"))
print(f"{time.monotonic() - t0:6.1f}s timeline.png", flush=True)
w.timeline_dialog.reject()
w.session.set_selection((2.5, 5.0))
w.guided.set_intent("bell", "none")
w.guided.scope_combo.setCurrentIndex(1)
w.guided.candidates_spin.setValue(4)
w.guided.rounds_spin.setValue(2)
w.commands.trigger("guided_edit")
settle(w, 1.5)
w.grab().save(os.path.join(out_dir, "guided.png"))
print(f"{time.monotonic() - t0:6.1f}s guided.png: {w.guided.round_texts()} {w.guided.ranked_labels()}", flush=True)
w.runner.shutdown()
w.player.close()
