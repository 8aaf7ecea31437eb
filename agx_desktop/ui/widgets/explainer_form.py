"""The explainer panel: a method combo and one editor per setting the methods flag for the app.

Generated from the explainers' declarations (:mod:`agx_desktop.engine.explain.settings`): each
field declared with ``in_app=True`` gets a labelled editor — a spin box with the declared range
(or the narrower ``app_range``), a combo box for choices, a check box for on/off — enabled while
the chosen method has that field. A method registered anywhere appears here without this file
changing. Today only AudioGenX's ``epochs`` is flagged.
"""
from __future__ import annotations

import typing as tp

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from agx_desktop.engine.explain import METHODS, menu_order

if tp.TYPE_CHECKING:
    from agx_desktop.engine.explain.settings import ExplainerSettings, Field

_INT_LIMIT = 2 ** 31 - 1  # a QSpinBox holds a C int
_REAL_LIMIT = 1e9  # a QDoubleSpinBox needs finite bounds: far beyond any setting's useful values
METHOD_TIP = ("Explanation method: AudioGenX (the paper's), a baseline to compare, or counterfactual occlusion "
              "(hover an entry for what it does)")


def _bounds(field: "Field", limit: float) -> tuple[float, float]:
    """The editor's range: ``app_range``, else the declared one (open ends clipped to what Qt holds)."""
    if field.option.app_range is not None:
        return field.option.app_range
    low = -limit if field.option.low is None else max(field.option.low, -limit)
    high = limit if field.option.high is None else min(field.option.high, limit)
    return low, high


def _editor(field: "Field") -> QWidget:
    """An editor for ``field`` holding its default."""
    if field.kind == "int":
        spin = QSpinBox()
        low, high = _bounds(field, _INT_LIMIT)
        spin.setRange(int(low), int(high))
        spin.setValue(int(field.default))
        return spin
    if field.kind == "float":
        real = QDoubleSpinBox()
        real.setDecimals(4)
        low, high = _bounds(field, _REAL_LIMIT)
        real.setRange(low + (10 ** -real.decimals() if field.option.low_open else 0.0), high)
        real.setValue(float(field.default))
        return real
    if field.kind == "bool":
        check = QCheckBox()
        check.setChecked(bool(field.default))
        return check
    if field.kind == "choice":
        combo = QComboBox()
        combo.addItems(list(field.option.choices))
        combo.setCurrentText(field.default)
        return combo
    raise TypeError(f"setting {field.name}: a {field.kind} field has no editor in the app (in_app=False)")


def _read(editor: QWidget) -> tp.Any:
    if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
        return editor.value()
    if isinstance(editor, QCheckBox):
        return editor.isChecked()
    return tp.cast(QComboBox, editor).currentText()


def _write(editor: QWidget, value: tp.Any) -> None:
    if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
        editor.setValue(value)
    elif isinstance(editor, QCheckBox):
        editor.setChecked(bool(value))
    else:
        tp.cast(QComboBox, editor).setCurrentText(str(value))


def _changed_signal(editor: QWidget) -> tp.Any:
    if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
        return editor.valueChanged
    if isinstance(editor, QCheckBox):
        return editor.toggled
    return tp.cast(QComboBox, editor).currentTextChanged


class ExplainerForm(QWidget):
    """Method combo + the app's settings editors; :meth:`settings` gives the chosen method's Settings.

    ``changed`` is emitted when the method or any value changes.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._combo = QComboBox()
        for name in menu_order():  # AudioGenX first, then the others
            self._combo.addItem(name)
            self._combo.setItemData(self._combo.count() - 1, METHODS[name].summary, Qt.ItemDataRole.ToolTipRole)
        self._combo.setToolTip(METHOD_TIP)
        layout.addWidget(QLabel("Explainer"))
        layout.addWidget(self._combo)
        self._editors: dict[str, QWidget] = {}
        for field, methods in self._app_fields().items():
            editor = _editor(field)
            editor.setToolTip(f"{', '.join(methods)}: {field.help}")
            layout.addWidget(QLabel(field.label))
            layout.addWidget(editor)
            self._editors[field.name] = editor
            _changed_signal(editor).connect(self.changed)
        self._combo.currentTextChanged.connect(self._method_changed)
        self._enable()

    @staticmethod
    def _app_fields() -> dict["Field", list[str]]:
        """Every field flagged for the app (once per name, as the first method declares it), with the
        methods that have it."""
        fields: dict[str, tuple["Field", list[str]]] = {}
        for name in menu_order():
            for field in METHODS[name].Settings.fields():
                if field.option.in_app:
                    fields.setdefault(field.name, (field, []))[1].append(name)
        return {field: methods for field, methods in fields.values()}

    def _method_fields(self) -> set[str]:
        return {f.name for f in METHODS[self.method()].Settings.fields() if f.option.in_app}

    def _enable(self) -> None:
        mine = self._method_fields()
        for name, editor in self._editors.items():
            editor.setEnabled(name in mine)

    def _method_changed(self) -> None:
        self._enable()
        self.changed.emit()

    # ------------------------------------------------------------------ public
    def method(self) -> str:
        return self._combo.currentText()

    def set_method(self, name: str) -> None:
        """Choose method ``name`` (an unknown name, e.g. from old settings, chooses the first)."""
        self._combo.setCurrentIndex(max(0, self._combo.findText(name)))

    def methods(self) -> list[str]:
        return [self._combo.itemText(i) for i in range(self._combo.count())]

    def editor(self, name: str) -> QWidget:
        """The editor of the app field ``name`` (a spin box, check box or combo box)."""
        return self._editors[name]

    def value(self, name: str) -> tp.Any:
        return _read(self._editors[name])

    def set_value(self, name: str, value: tp.Any) -> None:
        _write(self._editors[name], value)

    def settings(self) -> "ExplainerSettings":
        """The chosen method's Settings: its app fields as edited, the rest at their defaults."""
        method = self.method()
        values = {name: _read(self._editors[name]) for name in self._method_fields()}
        return METHODS[method].Settings.from_values(values, method=method)

    def set_settings(self, settings: "ExplainerSettings") -> None:
        """Show ``settings``' app fields (the method is chosen with :meth:`set_method`)."""
        for field in settings.fields():
            if field.name in self._editors and field.option.in_app:
                _write(self._editors[field.name], getattr(settings, field.name))


__all__ = ["ExplainerForm"]
