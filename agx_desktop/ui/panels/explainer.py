"""The explainer controls: which method explains a take, and its settings (AudioGenX's epochs).

The editors are generated from the methods' declared settings (:class:`~..widgets.explainer_form.ExplainerForm`);
this panel keeps the session's ``explainer`` (method name, its Settings) equal to what they show.
"""
from __future__ import annotations

import typing as tp

from PySide6.QtWidgets import QHBoxLayout, QWidget

from ..widgets.explainer_form import ExplainerForm

if tp.TYPE_CHECKING:
    from ..session import Session
    from ..settings import Settings


class ExplainerPanel(QWidget):
    """Method picker + its settings; what it shows is the session's ``explainer``."""

    def __init__(self, session: Session, spacing: int = 4, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.form = ExplainerForm()
        self.form.layout().setSpacing(spacing)
        lay.addWidget(self.form)
        self.form.changed.connect(self._push)
        self._push()

    def _push(self) -> None:
        self.session.set_explainer(self.form.method(), self.form.settings())

    def restore(self, s: Settings) -> None:
        self.form.set_method(s.method)
        try:
            self.form.set_value("epochs", s.epochs)
        except KeyError:  # no method shows epochs in the app any more
            pass

    def store(self, s: Settings) -> None:
        s.method = self.form.method()
        try:
            s.epochs = int(self.form.value("epochs"))
        except KeyError:
            pass
