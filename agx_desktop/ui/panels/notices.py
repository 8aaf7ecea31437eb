"""What the app has to tell the user and keep visible: the notice bar under the job bar, and the
status bar's autosave state with its Retry save button."""
from __future__ import annotations

import html
import typing as tp

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QStatusBar

if tp.TYPE_CHECKING:
    from ..controller import Controller


class NoticeBar(QLabel):
    """A persistent notice (dismissed with its link); the controller's ``notice`` signal shows one."""

    def __init__(self, controller: Controller) -> None:
        super().__init__("")
        self.setWordWrap(True)
        self.setStyleSheet("color: #ffb347; background: #3a2f1e; padding: 3px;")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.linkActivated.connect(lambda _link: self.hide())
        self.hide()
        self.plain = ""  # the notice's text, without the link
        controller.notice.connect(self.show_notice)
        controller.notice_resolved.connect(self.resolve)

    def show_notice(self, text: str, tooltip: str = "") -> None:
        self.plain = text
        self.setText(f"{html.escape(text)} &nbsp;<a href='dismiss' style='color:#5fb3ff'>Dismiss</a>")
        self.setToolTip(tooltip)
        self.show()

    def resolve(self, prefixes: tuple[str, ...]) -> None:
        """Hide the notice when it is about something that no longer applies."""
        if self.plain.startswith(tuple(prefixes)):
            self.hide()


class SaveStatus:
    """"⚠ N take(s) not saved" (or "⚠ Autosave off") and Retry save, in the status bar."""

    def __init__(self, controller: Controller, status_bar: QStatusBar) -> None:
        self.controller = controller
        self.label = QLabel("")
        self.label.setStyleSheet("color: #ffb347;")
        self.retry_btn = QPushButton("Retry save")
        self.retry_btn.setToolTip("Save the takes that are not on disk yet (after freeing space)")
        self.retry_btn.clicked.connect(controller.retry_save)
        status_bar.addPermanentWidget(self.label)
        status_bar.addPermanentWidget(self.retry_btn)
        controller.save_state_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        store = self.controller.store
        n = len(self.controller.unsaved_items())
        text = f"⚠ {n} take(s) not saved" if n else ("⚠ Autosave off" if store.problem else "")
        self.label.setText(text)
        self.label.setToolTip(store.last_reason() or (store.off_notice() if store.problem else ""))
        self.label.setVisible(bool(text))
        self.retry_btn.setVisible(bool(n))
