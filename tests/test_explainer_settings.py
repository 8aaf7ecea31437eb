"""The explainers' declared settings drive validation, `agx explain`'s and `agx evaluate`'s options; a
method registered anywhere shows up in both without another file changing."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from agx_desktop.engine.cli import _parser, explainer_overrides, run
from agx_desktop.engine.errors import ParameterError
from agx_desktop.engine.explain import METHODS, Explanation, explain
from agx_desktop.engine.explain.base import Explainer, Run, register
from agx_desktop.engine.explain.settings import ExplainerSettings, Field, option


def _other_value(field: Field):
    """A valid value of ``field`` that is not its default."""
    o = field.option
    if field.kind == "bool":
        return not field.default
    if field.kind == "choice":
        return next(c for c in o.choices if c != field.default)
    if field.kind == "interval":
        return (0.125, 0.375)
    if field.kind == "int":
        low = 0 if o.low is None else int(o.low)
        return low + 1 if field.default != low + 1 else low + 2
    low = 0.0 if o.low is None else o.low
    high = low + 2.0 if o.high is None else o.high
    return low + (high - low) / 4 if field.default != low + (high - low) / 4 else low + (high - low) / 3


def _flag(field: Field, method: str | None = None) -> str:
    name = field.name.replace("_", "-")
    return f"--{name}" if method is None else f"--{method}-{name}"


def _words(field: Field, value, flag: str) -> list[str]:
    if field.kind == "bool":
        return [flag] if value else ["--no-" + flag[2:]]
    if field.kind == "interval":
        return [flag, repr(value[0]), repr(value[1])]
    return [flag, value if isinstance(value, str) else repr(value)]


def _changed(settings_cls) -> ExplainerSettings:
    return settings_cls(**{f.name: _other_value(f) for f in settings_cls.fields()})


@pytest.mark.parametrize("method", sorted(METHODS))
def test_settings_round_trip_through_agx_explain_options(method):
    settings_cls = METHODS[method].Settings
    wanted = _changed(settings_cls)
    words = [w for f in settings_cls.fields() for w in _words(f, getattr(wanted, f.name), _flag(f))]
    args = _parser().parse_args(["explain", "some_take", "--method", method, *words])
    assert settings_cls.from_values(explainer_overrides(args), method=method) == wanted
    assert wanted.to_dict() == json.loads(json.dumps(wanted.to_dict()))  # what an explanation records


@pytest.mark.parametrize("method", sorted(METHODS))
def test_settings_round_trip_through_agx_evaluate_options(method):
    settings_cls = METHODS[method].Settings
    wanted = _changed(settings_cls)
    words = [w for f in settings_cls.fields() for w in _words(f, getattr(wanted, f.name), _flag(f, method))]
    args = _parser().parse_args(["evaluate", "captions.txt", "--out", "res", *words])
    assert settings_cls.from_values(explainer_overrides(args, method), method=method) == wanted
    for other in METHODS:
        if other != method:
            assert explainer_overrides(args, other) == {}


def test_defaults_are_what_the_methods_always_ran_with():
    ag = METHODS["audiogenx"].Settings()
    assert (ag.epochs, ag.mode, ag.alpha, ag.beta, ag.tau, ag.hidden, ag.seed, ag.space) == \
        (50, "quick", 1e-3, 1e-1, 1.0, 512, 0, "latents")
    assert ag.resolved().lr == 1e-2 and ag.resolved().lr_decay == 0.85
    assert dataclasses.replace(ag, mode="fast").resolved().lr == 1e-3
    assert dataclasses.replace(ag, mode="fast").resolved().lr_decay is None
    oc = METHODS["occlusion"].Settings()
    assert (oc.draws, oc.coalitions, oc.permutations, oc.window, oc.focus) == (3, "single", 4, 0.5, None)
    assert METHODS["atman"].Settings().factor == 0.9 and METHODS["gradcam-a"].Settings().chunk == 32


@pytest.mark.parametrize("method,field", [(m, f) for m in sorted(METHODS) for f in METHODS[m].Settings.fields()
                                          if f.kind in ("int", "float") and f.option.low is not None])
def test_a_value_out_of_range_is_one_line_naming_the_option(method, field, tmp_path, capsys):
    low = field.option.low
    bad = low if field.option.low_open else (low - 1 if field.kind == "int" else low - 0.5)
    code = run(["--quiet", "explain", str(tmp_path), "--method", method, f"{_flag(field)}={bad!r}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("agx: error:")
    assert f"argument {_flag(field)}" in err and field.name in err
    with pytest.raises(ParameterError, match=field.name) as exc:
        METHODS[method].Settings.from_values({field.name: bad}, method=method)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("method,field", [(m, f) for m in sorted(METHODS) for f in METHODS[m].Settings.fields()
                                          if f.kind in ("float", "interval")])
def test_nan_and_infinity_are_refused_by_name(method, field):
    for bad in (math.nan, math.inf):
        value = (0.0, bad) if field.kind == "interval" else bad
        with pytest.raises(ParameterError, match=field.name) as exc:
            METHODS[method].Settings.from_values({field.name: value}, method=method)
        assert "\n" not in str(exc.value)


def test_unknown_and_wrongly_typed_settings_are_one_line():
    with pytest.raises(ParameterError, match="unknown atman parameter.*epochs.*known: chunk, factor"):
        METHODS["atman"].Settings.from_values({"epochs": 3}, method="atman")
    with pytest.raises(ParameterError, match="mode must be one of quick, fast, reference"):
        METHODS["audiogenx"].Settings(mode="slow")
    with pytest.raises(ParameterError, match="hard must be true or false"):
        METHODS["audiogenx"].Settings(hard="yes")
    with pytest.raises(ParameterError, match="epochs"):
        METHODS["audiogenx"].Settings(epochs=2.5)
    assert METHODS["audiogenx"].Settings.from_values({"lr": None}).lr is None  # None = the default


# --------------------------------------------------------------------------- a method added in one place

@dataclasses.dataclass(frozen=True)
class ToySettings(ExplainerSettings):
    strength: float = option(0.5, "how strong every word is", low=0.0, high=1.0, in_app=True, label="Strength")
    style: str = option("flat", "how the strength is spread", choices=("flat", "ramp"), in_app=True)
    loud: bool = option(False, "say so in the extras", in_app=True)


class Toy(Explainer):
    name = "toy"
    summary = "a toy method: every word as strong as --strength"
    Settings = ToySettings

    def compute(self, run: Run) -> Explanation:
        masks = np.full((run.inputs.n_steps, run.n_tokens), run.settings.strength)
        if run.settings.style == "ramp":
            masks *= np.linspace(0.0, 1.0, run.inputs.n_steps)[:, None]
        run.report(1, 1)
        return run.result(masks, extras={"loud": run.settings.loud})


@pytest.fixture
def toy():
    register(Toy)
    yield METHODS["toy"]
    del METHODS["toy"]


def test_a_registered_method_appears_in_agx_explain(toy, capsys, tmp_path, untrained_bundled):
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.take_folder import load_take

    assert run(["explain", "--help"]) == 0
    out = capsys.readouterr().out
    assert "every word as strong as --strength" in out and "--strength STRENGTH" in out and "--style {flat,ramp}" in out
    assert "--loud, --no-loud" in out and "(default 0.5; 0 to 1)" in out
    take = tmp_path / "t"
    assert run(["--quiet", "generate", "wind", "--duration", "0.5", "--out", str(take)]) == 0
    assert run(["--quiet", "explain", str(take), "--method", "toy", "--strength", "0.25", "--loud"]) == 0
    doc = json.loads((take / "explanation.json").read_text())
    assert doc["method"] == "toy" and doc["params"]["strength"] == 0.25 and doc["params"]["style"] == "flat"
    assert doc["extras"] == {"loud": True} and max(doc["importance"]) == pytest.approx(0.25)
    capsys.readouterr()
    assert run(["--quiet", "explain", str(take), "--method", "toy", "--strength", "2", "--retrain"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --strength: strength must be a finite number from 0 to 1" in err
    ex = explain(load_model("bundled"), load_take(take), method="toy", style="ramp")  # the engine API too
    assert ex.params["style"] == "ramp" and ex.step_masks[0].max() == 0.0


def test_a_registered_method_appears_in_agx_evaluate(toy, capsys, tmp_path, monkeypatch):
    from agx_desktop.engine import models
    from agx_desktop.evaluation.protocol import parse_methods
    from _eval_helpers import synth_model

    assert run(["evaluate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--toy-strength STRENGTH" in out and "every word as strong as --strength" in out
    assert parse_methods("toy,random") == ["toy", "random"]
    model = synth_model()
    monkeypatch.setattr(models, "load_model", lambda *a, **k: model)
    captions = tmp_path / "c.txt"
    captions.write_text("a dog barks\n")
    res = tmp_path / "res"
    code = run(["--quiet", "evaluate", str(captions), "--out", str(res), "--methods", "toy", "--toy-strength", "0.75",
                "--samples", "1", "--duration", "0.5", "--classifier", "_eval_helpers:make_classifier"])
    assert code == 0
    record = json.loads((res / "results.jsonl").read_text().splitlines()[0])
    assert record["methods"]["toy"]["settings"] == {"strength": 0.75}  # what differs from the defaults
    assert json.loads((res / "run.json").read_text())["method_params"] == {"toy": {"strength": 0.75}}
    assert "toy" in (res / "table1.md").read_text()
