"""The controller without a window: requests made on a Session become jobs on the real engine (the
untrained 'bundled' stand-in), and their results come back as session changes and signals."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import soundfile as sf

from agx_desktop.ui.controller import Controller, DisplayStages, replace_words
from agx_desktop.ui.jobs import JobRunner
from agx_desktop.ui.playback import FakeStream, Player
from agx_desktop.ui.session import Session
from agx_desktop.ui.settings import Settings
from agx_desktop.ui.store import TakeStore


class Heard:
    """Every signal the controller sends to the window, in order."""

    def __init__(self, c: Controller) -> None:
        self.errors: list[tuple[str, str]] = []
        self.status: list[str] = []
        self.notices: list[str] = []
        self.settings_wanted = 0
        c.error.connect(lambda title, message, _details: self.errors.append((title, message)))
        c.status.connect(lambda text, _ms: self.status.append(text))
        c.notice.connect(lambda text, _tip: self.notices.append(text))
        c.settings_wanted.connect(self._wanted)

    def _wanted(self) -> None:
        self.settings_wanted += 1


@pytest.fixture
def ctl(qtbot, data_dir):
    session = Session()
    runner = JobRunner()
    c = Controller(session, runner, TakeStore(data_dir / "takes"), Player(stream_factory=FakeStream), Settings())
    session.set_prompt("a dog barks then a bell rings")
    session.set_params(duration=0.5, seed=5)
    c.start(load_autosaved=False)
    idle(qtbot, c)
    assert session.model is not None
    yield c
    runner.shutdown()
    c.player.close()


@pytest.fixture
def heard(ctl):
    return Heard(ctl)


def idle(qtbot, c: Controller) -> None:
    qtbot.waitUntil(lambda: not c.runner.busy and not c.runner.pending, timeout=60000)


def explainer(epochs: int):
    from agx_desktop.engine.explain import METHODS
    return METHODS["audiogenx"].Settings.from_values({"epochs": epochs}, method="audiogenx")


def test_generate_adds_the_take_makes_it_current_and_autosaves(ctl, heard, qtbot):
    s = ctl.session
    job = ctl.generate()
    assert job is not None and job.title == "Generate “a dog barks then a bell rings” (seed 5)"
    assert heard.settings_wanted == 1  # the window writes the settings when a request is made
    idle(qtbot, ctl)
    item = s.current
    assert list(s.items) == [item.id] and item.take.params.seed == 5 and item.explanation is None
    assert abs(item.take.duration - 0.5) < 0.05 and (item.folder / "take.json").is_file()
    assert f"Done: {job.title}" in heard.status and heard.errors == []


def test_an_empty_or_too_long_prompt_makes_no_job(ctl, heard):
    for prompt in ("", "   "):
        ctl.session.set_prompt(prompt)
        assert "Type a prompt" in ctl.prompt_problem()
        assert ctl.generate() is None and ctl.variations(2) is None
    ctl.session.set_prompt(" ".join(["wind"] * 600))
    assert "shorten" in ctl.prompt_problem() and ctl.generate() is None
    assert not ctl.runner.busy and not ctl.runner.pending and heard.settings_wanted == 0


def test_explain_runs_the_sessions_explainer_settings(ctl, heard, qtbot):
    ctl.generate()
    idle(qtbot, ctl)
    item = ctl.session.current
    ctl.session.set_explainer("audiogenx", explainer(2))
    job = ctl.explain()
    assert job.title == f"Explain take {item.id} (audiogenx, up to 2 epochs)"  # quick mode may stop earlier
    idle(qtbot, ctl)
    ex = item.explanation
    assert ex is not None and ex.method == "audiogenx" and ex.params["epochs"] == 2
    assert ctl.explained and (item.folder / "explanation.json").is_file()
    assert any(m.startswith(f"Explained take {item.id} with audiogenx") for m in heard.status)


def test_generate_and_explain_then_hear_the_counterfactual(ctl, qtbot):
    # what the transport panel does in the window: the current take is what the player holds
    ctl.session.current_changed.connect(lambda item: ctl.player.load(item.take.audio, item.take.sample_rate))
    ctl.session.set_explainer("audiogenx", explainer(2))
    ctl.generate(explain_after=True)
    idle(qtbot, ctl)
    base = ctl.session.current
    assert base.explanation is not None
    ctl.variant("counterfactual")
    idle(qtbot, ctl)
    new = ctl.session.current
    assert new.take.kind == "counterfactual" and new.take.parent == base.id
    assert ctl.session.ab == {"A": base.id, "B": new.id} and ctl.session.ab_side == "B"
    assert ctl.player.playing  # the variant is heard at once


def test_factual_of_another_method_says_whose_masks_it_uses(ctl, qtbot):
    """Word deletion's scores are not AudioGenX's masks (README): the job hearing its factual names them."""
    from agx_desktop.engine.explain import METHODS
    ctl.session.set_explainer("deletion", METHODS["deletion"].Settings())
    ctl.generate(explain_after=True)
    idle(qtbot, ctl)
    base = ctl.session.current
    assert base.explanation.method == "deletion"
    job = ctl.variant("factual")
    assert job.title == f"Hear factual of take {base.id} (Word deletion masks)"
    idle(qtbot, ctl)
    assert ctl.session.current.take.kind == "factual"


def test_regenerate_with_weights_or_replaced_words_keeps_the_seed(ctl, qtbot):
    ctl.generate()
    idle(qtbot, ctl)
    base = ctl.session.current
    words = list(base.take.words)
    weights = [1.0] * len(words)
    weights[1] = 0.0
    ctl.regenerate(words, weights)
    idle(qtbot, ctl)
    muted = ctl.session.current
    assert muted.take.kind == "weighted" and muted.take.word_weights == weights
    assert muted.take.params.seed == 5 and ctl.session.ab == {"A": base.id, "B": muted.id}
    ctl.show_take(base.id)
    words[1] = "cat"
    ctl.regenerate(words, [1.0] * len(words))
    idle(qtbot, ctl)
    cat = ctl.session.current
    assert cat.take.prompt == "a cat barks then a bell rings" and cat.take.parent == base.id
    assert cat.take.params.seed == 5


def test_variations_use_other_seeds_and_a_second_request_is_queued(ctl, heard, qtbot):
    first = ctl.generate()
    second = ctl.variations(3)
    assert ctl.runner.running is first and ctl.runner.pending == [second]
    assert any(m.startswith("Queued: 3 variations") for m in heard.status)
    idle(qtbot, ctl)
    assert len(ctl.session.items) == 4
    assert len({it.take.params.seed for it in ctl.session.items.values()}) == 4


def test_ab_switch_follows_the_pair(ctl, qtbot):
    ctl.switch_ab()  # no pair: nothing happens
    ctl.generate()
    idle(qtbot, ctl)
    a = ctl.session.current
    ctl.set_ab("A")
    ctl.session.set_params(seed=6)
    ctl.generate()
    idle(qtbot, ctl)
    b = ctl.session.current
    ctl.set_ab("B")
    assert ctl.session.ab == {"A": a.id, "B": b.id}
    ctl.switch_ab()
    assert ctl.session.current is a and ctl.session.ab_side == "A"
    ctl.switch_ab()
    assert ctl.session.current is b


def test_export_writes_the_current_take_or_reports_why_not(ctl, heard, qtbot, tmp_path):
    assert ctl.export_current(tmp_path) is None  # no take yet
    ctl.generate()
    idle(qtbot, ctl)
    path = ctl.export_current(tmp_path)
    assert path is not None and sf.info(str(path)).frames > 0
    assert any(m.startswith(f"Exported {path}") for m in heard.status)
    assert ctl.export_explanation(tmp_path / "e.json", "json") is None  # not explained
    (tmp_path / "file").write_text("x")
    assert ctl.export_current(tmp_path / "file") is None  # a file, not a folder
    assert ctl.last_error[0] == "Export WAV" and heard.errors[-1][0] == "Export failed"
    drag = ctl.wav_for(ctl.session.current.id)
    assert drag is not None and sf.info(str(drag)).frames == ctl.session.current.take.audio.shape[-1]
    assert ctl.wav_for("unknown") is None


def test_a_model_that_does_not_load_is_a_notice_and_an_error(ctl, heard, qtbot):
    ctl.session.choose_model("no/such-model")
    idle(qtbot, ctl)
    assert ctl.session.model is None
    assert heard.notices and heard.notices[-1].startswith("Model not loaded: ")
    assert heard.errors[-1][0] == "Load model no/such-model failed"
    assert ctl.last_error[0] == "Load model no/such-model"


def test_replace_words_keeps_the_prompts_spacing_and_punctuation():
    take = SimpleNamespace(prompt="A dog,  barks!", text=SimpleNamespace(word_spans=[(0, 1), (2, 5), (8, 13)]))
    assert replace_words(take, ["A", "cat", "meows"]) == "A cat,  meows!"
    assert replace_words(take, ["two", "words"]) == "two words"  # the spans no longer fit: plain words


def test_display_stages_run_one_per_turn_or_all_at_once(qtbot):
    stages = DisplayStages()
    ran: list[int] = []
    stages.schedule([lambda: ran.append(1), lambda: ran.append(2), lambda: ran.append(3)])
    assert stages.pending and ran == []
    qtbot.waitUntil(lambda: ran[:1] == [1], timeout=1000)
    stages.finish()  # before acting on what the views show
    assert ran == [1, 2, 3] and not stages.pending
