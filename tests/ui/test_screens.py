"""Any screen: the window opens inside the available screen area, every control is reachable and
unclipped at 1280x720, the export dialog shows its file name; Linux's missing xcb libraries are named."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QLabel, QWidget

from agx_desktop.ui import app
from uihelpers import wait_idle


def inside(w: QWidget, window: QWidget) -> bool:
    top_left = w.mapTo(window, QPoint(0, 0))
    return QRect(top_left, w.size()).intersected(window.rect()) == QRect(top_left, w.size())


def test_at_1280x720_every_control_is_visible_inside_and_unclipped(make_window, qtbot):
    w = make_window()
    w.resize(1280, 720)
    qtbot.waitUntil(lambda: w.size().toTuple() == (1280, 720))
    wait_idle(qtbot, w)
    g, words, takes = w.generation, w.words, w.takes
    controls = [g.prompt_edit, g.generate_btn, g.explain_btn, g.gen_explain_btn, g.model_combo, g.duration_spin,
                g.duration_max_label, g.seed_spin, g.dice_btn, g.cfg_spin, g.topk_spin, g.temp_spin,
                *g.explainer.findChildren(QComboBox), w.transport.play_btn, w.transport.stop_btn,
                w.transport.drag_handle, words.regenerate_btn, words.variations_btn, words.factual_btn,
                words.counterfactual_btn, takes.set_a_btn, takes.set_b_btn, takes.ab_btn, takes.history]
    for c in controls:
        assert c.isVisible() and inside(c, w), c
        assert c.width() >= c.minimumSizeHint().width(), c
    for c in [g.model_combo, *g.explainer.findChildren(QComboBox)]:  # the whole text: no "audiogei"
        assert c.width() >= c.sizeHint().width(), (c.currentText(), c.width(), c.sizeHint().width())
    labels = [lab for lab in g.params_row.findChildren(QLabel) if lab.isVisible() and lab.text()]
    for a in labels:  # no label overlaps another control ("Duration" over the Model combo)
        ra = QRect(a.mapTo(w, QPoint(0, 0)), a.size())
        for c in controls:
            if c is not a and c.isVisible() and c.parent() is not a:
                rc = QRect(c.mapTo(w, QPoint(0, 0)), c.size())
                assert not ra.intersects(rc), (a.text(), c)
    assert g.duration_max_label.text().startswith("max ")


def test_the_window_fits_the_available_screen():
    small = QRect(0, 0, 1280, 720)
    r = app.initial_geometry(small, None)
    assert small.contains(r) and r.width() <= 1280 and r.height() <= 720
    big = QRect(0, 0, 2560, 1440)
    assert app.initial_geometry(big, None).size().toTuple() == (1440, 900)
    saved = QRect(100, 100, 1600, 1000)
    assert app.initial_geometry(big, saved) == saved  # the saved geometry when it fits...
    assert small.contains(app.initial_geometry(small, saved))  # ...else a fitting one


def test_missing_xcb_libraries_are_named_in_one_line(monkeypatch, capsys):
    have = {"xcb-icccm", "xcb-keysyms", "xcb-image", "xcb-render-util", "xkbcommon-x11"}
    missing = app.missing_xcb_packages(find=lambda lib: f"lib{lib}.so" if lib in have else None,
                                       platform="linux", env={})
    assert missing == [("libxcb-cursor0", "xcb-util-cursor")]
    line = app.xcb_message(missing)
    assert "\n" not in line and "apt install libxcb-cursor0" in line and "dnf install xcb-util-cursor" in line
    assert app.missing_xcb_packages(find=lambda lib: None, platform="linux", env={"QT_QPA_PLATFORM": "wayland"}) == []
    assert app.missing_xcb_packages(find=lambda lib: None, platform="darwin", env={}) == []
    # main() says it and exits 2 before creating the QApplication
    monkeypatch.setattr(app, "missing_xcb_packages", lambda: missing)
    monkeypatch.setattr("PySide6.QtWidgets.QApplication.instance", staticmethod(lambda: None))
    assert app.main([]) == 2
    assert capsys.readouterr().err.strip() == line


def test_a_typed_duration_above_the_maximum_says_so(make_window, qtbot):
    w = make_window()
    spin = w.generation.duration_spin
    hi = spin.maximum()
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, "99")
    QTest.keyClick(spin, Qt.Key.Key_Return)
    assert w.session.params.duration == pytest.approx(hi)
    assert w.statusBar().currentMessage() == f"duration 99 s is above this model's {hi:g} s maximum: using {hi:g} s"


def test_the_export_dialog_shows_its_pattern_and_ceiling(generated):
    from agx_desktop.ui.widgets.export_dialog import ExportDialog
    dlg = ExportDialog(generated.settings.export, generated.session.current.take, generated)
    dlg.show()
    assert dlg.width() >= dlg.pattern.fontMetrics().horizontalAdvance(dlg.preview.text())
    assert dlg.pattern.width() >= dlg.pattern.fontMetrics().horizontalAdvance(dlg.pattern.text())
    assert dlg.true_peak.value() == -1.0
    dlg.true_peak.setValue(-2.0)
    assert dlg.result_settings().true_peak == -2.0
    dlg.close()


def test_on_a_1280x720_screen_the_views_never_cover_each_other(make_window, qtbot):
    """At the size the app opens with on a 1280x720 screen (initial_geometry: frame room taken), with the
    prompt hint and a notice shown too, the timeline ends above the panel below it: the word-view choice,
    the contrast option and the word panel's title are not painted over (they were, by 27 px, when the
    timeline's minimum height exceeded its share)."""
    w = make_window()
    size = app.initial_geometry(QRect(0, 0, 1280, 720), None).size()
    w.resize(size)
    qtbot.waitUntil(lambda: w.size() == size)
    w.generation.show_problem("Type a prompt first")
    w.notice_bar.show_notice("a notice")
    wait_idle(qtbot, w)
    qtbot.waitUntil(lambda: w.notice_bar.isVisible() and w.generation.hint_label.isVisible())
    tl = w.timeline
    tl_rect = QRect(tl.mapTo(w, QPoint(0, 0)), tl.size())
    assert tl.height() <= tl.parentWidget().sizes()[0]  # no more than the splitter gives it
    below = [w.importance.view_combo, w.importance.contrast_box, w.importance.bars, w.words]
    for c in below:
        rect = QRect(c.mapTo(w, QPoint(0, 0)), c.size())
        assert c.isVisible() and inside(c, w) and not rect.intersects(tl_rect), c
