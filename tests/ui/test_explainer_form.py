"""The explainer form is generated from the methods' declared settings: the editors carry the declared
ranges and choices, settings() round-trips, and a method registered in a test shows up."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox

from agx_desktop.engine.explain import METHODS, menu_order
from agx_desktop.engine.explain.base import register
from agx_desktop.ui.widgets.explainer_form import ExplainerForm


@pytest.fixture
def form(qtbot):
    f = ExplainerForm()
    qtbot.addWidget(f)
    return f


def test_methods_listed_audiogenx_first_with_their_summaries(form):
    assert form.methods() == menu_order() and form.methods()[0] == "audiogenx" == form.method()
    combo = form.findChild(QComboBox)
    for i, name in enumerate(form.methods()):
        assert combo.itemData(i, Qt.ItemDataRole.ToolTipRole) == METHODS[name].summary


def test_epochs_editor_comes_from_the_declaration(form):
    field = METHODS["audiogenx"].Settings.field("epochs")
    spin = form.editor("epochs")
    assert isinstance(spin, QSpinBox) and field.option.in_app
    assert (spin.minimum(), spin.maximum()) == field.option.app_range == (1, 1000)
    assert spin.value() == field.default == 50 and field.help in spin.toolTip()
    assert [f.name for m in METHODS.values() for f in m.Settings.fields() if f.option.in_app] == ["epochs"]


def test_settings_round_trip_and_changed(form, qtbot):
    settings_cls = METHODS["audiogenx"].Settings
    with qtbot.waitSignal(form.changed):
        form.set_value("epochs", 7)
    assert form.settings() == settings_cls(epochs=7)
    form.set_settings(settings_cls(epochs=123))
    assert form.value("epochs") == 123 and form.settings() == settings_cls(epochs=123)
    with qtbot.waitSignal(form.changed):
        form.set_method("atman")
    assert form.method() == "atman" and not form.editor("epochs").isEnabled()
    assert form.settings() == METHODS["atman"].Settings()
    form.set_method("audiogenx")
    assert form.editor("epochs").isEnabled() and form.settings().epochs == 123
    form.set_method("no-such-method")  # e.g. an old settings file: the first method
    assert form.method() == "audiogenx"


def test_a_registered_method_appears_with_its_editors(qtbot):
    from test_explainer_settings import Toy, ToySettings

    register(Toy)
    try:
        form = ExplainerForm()
        qtbot.addWidget(form)
        assert "toy" in form.methods()
        strength, style, loud = form.editor("strength"), form.editor("style"), form.editor("loud")
        assert isinstance(strength, QDoubleSpinBox) and (strength.minimum(), strength.maximum()) == (0.0, 1.0)
        assert isinstance(style, QComboBox) and [style.itemText(i) for i in range(style.count())] == ["flat", "ramp"]
        assert isinstance(loud, QCheckBox) and not loud.isChecked()
        assert not strength.isEnabled()  # audiogenx is chosen
        form.set_method("toy")
        assert strength.isEnabled() and form.settings() == ToySettings()
        wanted = ToySettings(strength=0.25, style="ramp", loud=True)
        form.set_settings(wanted)
        assert form.settings() == wanted
    finally:
        del METHODS["toy"]
