"""The keyboard-only loop's focus rules, which Qt's shortcuts alone get wrong in a main window:

- Space is the window's Play / Pause shortcut, except where the focused widget uses it: a text field
  types it (Qt already lets it) and a focused button presses (Qt would play instead);
- Enter presses a focused button (Qt's main windows only do that in dialogs);
- Enter in the prompt generates (the window's ``returnPressed``) and then moves the focus to the
  timeline; Esc in the prompt moves it there without generating, so the next Space plays.
"""
from __future__ import annotations

import typing as tp

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QAbstractButton, QApplication, QWidget

if tp.TYPE_CHECKING:
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QLineEdit

ENTER = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
NO_MODIFIERS = (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)


class KeyboardFocus(QObject):
    """An application event filter for one window: its ``prompt`` and its ``home`` (the timeline)."""

    def __init__(self, window: QWidget, prompt: QLineEdit, home: QWidget) -> None:
        super().__init__(window)
        self.window, self.prompt, self.home = window, prompt, home
        home.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        prompt.returnPressed.connect(lambda: QTimer.singleShot(0, self.leave_prompt))
        app = QApplication.instance()
        app.installEventFilter(self)
        window.destroyed.connect(lambda *_: app.removeEventFilter(self))

    def leave_prompt(self) -> None:
        if self.prompt.hasFocus():
            self.home.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802 (Qt API)
        kind = ev.type()
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) or not isinstance(obj, QWidget):
            return False
        if obj.window() is not self.window:
            return False
        key_ev = tp.cast("QKeyEvent", ev)
        key, plain = key_ev.key(), key_ev.modifiers() in NO_MODIFIERS
        if not plain:
            return False
        if isinstance(obj, QAbstractButton):
            if kind == QEvent.Type.ShortcutOverride and key == Qt.Key.Key_Space:
                ev.accept()  # the button gets the key (and presses), not the Play shortcut
            elif kind == QEvent.Type.KeyPress and key in ENTER and obj.isEnabled():
                obj.click()
                return True
            return False
        if obj is self.prompt and key == Qt.Key.Key_Escape:
            if kind == QEvent.Type.ShortcutOverride:
                ev.accept()  # not "Clear selection": Esc here leaves the prompt
            else:
                self.home.setFocus(Qt.FocusReason.ShortcutFocusReason)
                return True
        return False
