"""Speed settings (engine/speed.py): off by default, opt-in copies that leave the model as it was."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agx_desktop.engine.generation import generate
from agx_desktop.engine.speed import SpeedSettings
from agx_desktop.engine.take import GenerationParams

P = GenerationParams(duration=0.5, seed=3, top_k=32)
PROMPT = "a dog barks"


def test_every_speed_setting_is_off_by_default(tiny_model):
    assert tiny_model.speed == SpeedSettings() and tiny_model.speed.is_default
    assert (SpeedSettings().bf16, SpeedSettings().int8, SpeedSettings().threads) == (False, False, None)
    assert tiny_model.speed.label() == "float32"


def test_default_settings_give_the_same_take(tiny_model):
    same = tiny_model.with_speed(SpeedSettings())
    a, b = generate(tiny_model, PROMPT, P), generate(same, PROMPT, P)
    assert np.array_equal(a.audio, b.audio) and torch.equal(a.codes, b.codes)


def test_int8_quantises_a_copy_and_leaves_the_model(tiny_model):
    before = generate(tiny_model, PROMPT, P)
    fast = tiny_model.with_speed(SpeedSettings(int8=True))
    assert fast.lm is not tiny_model.lm and fast.compression_model is tiny_model.compression_model
    assert any("quantized" in type(m).__module__ for m in fast.lm.modules())
    assert not any("quantized" in type(m).__module__ for m in tiny_model.lm.modules())
    take = generate(fast, PROMPT, P)
    assert take.codes.shape == before.codes.shape and np.isfinite(take.audio).all()
    assert fast.fingerprint == tiny_model.fingerprint  # same weights: its takes explain with the model
    after = generate(tiny_model, PROMPT, P)  # the float model is untouched
    assert torch.equal(before.codes, after.codes)


def test_bf16_and_threads_settings(tiny_model):
    fast = tiny_model.with_speed(SpeedSettings(bf16=True, threads=1))
    assert fast.num_threads == 1 and fast.lm is tiny_model.lm and fast.speed.label() == "bf16+1 threads"
    take = generate(fast, PROMPT, P)
    assert np.isfinite(take.audio).all() and take.latents.dtype == torch.float32
    with pytest.raises(ValueError, match="threads"):
        SpeedSettings(threads=0)


def test_a_take_records_its_speed_settings(tiny_model):
    """A default take records nothing (as every take before the settings existed); a take made under a
    setting says its precision, quantisation and threads in its metadata."""
    plain = generate(tiny_model, PROMPT, P)
    assert plain.speed is None and "speed" not in plain.metadata()
    fast = generate(tiny_model.with_speed(SpeedSettings(int8=True, threads=1)), PROMPT, P)
    assert fast.metadata()["speed"] == {"precision": "float32", "quantisation": "int8 dynamic (linear layers, attention in-projections)",
                                        "threads": 1, "label": "int8+1 threads"}
    bf16 = generate(tiny_model.with_speed(SpeedSettings(bf16=True)), PROMPT, P)
    assert bf16.speed["precision"] == "bf16 autocast" and bf16.speed["threads"] is None


def test_the_speed_record_survives_saving_and_shows_in_the_takes_list(tiny_model, tmp_path):
    """A take reloaded from its folder still says it was sampled under int8, and the takes list shows it;
    a default take reloads with no record and its line is unchanged."""
    from types import SimpleNamespace

    from agx_desktop.engine import take_folder
    from agx_desktop.ui.widgets.history import describe
    fast = generate(tiny_model.with_speed(SpeedSettings(int8=True, threads=1)), PROMPT, P)
    back = take_folder.load_take(take_folder.save_take(fast, tmp_path / "fast"))
    assert back.speed == fast.speed
    assert "int8+1 threads" in describe(SimpleNamespace(take=back, explanation=None, notes={}))
    plain = take_folder.load_take(take_folder.save_take(generate(tiny_model, PROMPT, P), tmp_path / "plain"))
    assert plain.speed is None
    assert "threads" not in describe(SimpleNamespace(take=plain, explanation=None, notes={}))


def test_int8_copy_leaves_no_float_linear_behind(tiny_model):
    """The copy is quantised in place (one float32 copy at the peak): every nn.Linear that runs at each
    step (transformer, codebook heads) is a quantised one, none of the original's is; the text
    conditioner's projection (once per take, read as a tensor by audiocraft's conditioners) stays float."""
    from torch import nn
    fast = tiny_model.with_speed(SpeedSettings(int8=True))
    per_step = [*fast.lm.transformer.modules(), *fast.lm.linears.modules()]
    assert not any(type(m) is nn.Linear for m in per_step)
    assert any(type(m) is nn.Linear for m in tiny_model.lm.transformer.modules())


def test_int8_of_the_trained_bundled_model_samples():
    """The bundled model's text conditioner reads its projection's weight as a tensor: int8 leaves it float,
    quantises the in-projections of the custom attention, and the take is sampled and recorded."""
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.speed import Int8InProjection
    fast = load_model("bundled", "cpu").with_speed(SpeedSettings(int8=True))
    assert sum(isinstance(m.__dict__.get("in_proj_weight"), Int8InProjection) for m in fast.lm.modules()) == \
        2 * len(fast.lm.transformer.layers)
    take = generate(fast, PROMPT, P)
    assert np.isfinite(take.audio).all() and take.speed["label"] == "int8"


@pytest.fixture(scope="module")
def custom_attention_model():
    """The tiny model with audiocraft's own attention (``custom``: packed ``in_proj_weight`` passed to
    ``F.linear``), as AudioGen-medium and the bundled model have; the session's tiny model uses torch's
    ``nn.MultiheadAttention``."""
    from agx_desktop.engine.models import LoadedModel
    from agx_desktop.engine.standin import build_tiny_model
    gen = build_tiny_model(name="tiny-custom", seed=0, dim=64, num_layers=2, card=64, max_duration=4.0, custom=True)
    return LoadedModel("tiny-custom", gen, torch.device("cpu"), trained=False)


def _in_projections(model):
    return [m for m in model.lm.modules() if "in_proj_weight" in m._parameters or "in_proj_weight" in m.__dict__]


def test_int8_quantises_the_attention_in_projections_too(custom_attention_model):
    """The packed in-projections audiocraft calls ``F.linear`` on are int8 in the copy: packed int8 weights
    exist (q, k, v rows apart for cross-attention), no float ``in_proj_weight`` Parameter is left, and the
    stand-in has no data a float read could use (anything but ``F.linear`` and row slices raises)."""
    from agx_desktop.engine.speed import Int8InProjection
    model = custom_attention_model
    fast = model.with_speed(SpeedSettings(int8=True))
    attentions = _in_projections(fast)
    assert len(attentions) == 4  # 2 layers x (self, cross)
    for m in attentions:
        w = m.in_proj_weight
        assert isinstance(w, Int8InProjection) and "in_proj_weight" not in m._parameters
        assert w.shape == (3 * 64, 64) and w.device.type == "meta"
        packed = [part.weight() for part in w._parts.values()]
        assert all(p.dtype == torch.qint8 for p in packed)
        assert len(packed) == (3 if m.cross_attention else 1)
        with pytest.raises(TypeError, match="int8 in-projection"):
            w.sum()
    assert not any(p.dtype == torch.float32 and n.endswith("in_proj_weight") for n, p in fast.lm.named_parameters())
    # the model itself keeps its float weights
    assert all(isinstance(m._parameters["in_proj_weight"], torch.nn.Parameter) for m in _in_projections(model))
    assert fast.speed.to_dict()["quantisation"] == "int8 dynamic (linear layers, attention in-projections)"


def _kl_top1(reference: torch.Tensor, other: torch.Tensor) -> tuple[float, float]:
    p, q = torch.log_softmax(reference.float(), -1), torch.log_softmax(other.float(), -1)
    kl = (p.exp() * (p - q)).sum(-1)
    return float(kl.max()), float((reference.argmax(-1) == other.argmax(-1)).float().mean())


def test_int8_next_code_distributions_stay_close_to_float(custom_attention_model):
    """Teacher-forced over a float32 take, the int8 copy's next-code distributions are within KL 1e-3 of
    float32's at every step and codebook (measured 7e-5) and agree on the top code at ≥ 90 % of them
    (measured 98 %); a wrong row slice or scale would be orders of magnitude off."""
    from agx_desktop.engine import teacher
    model = custom_attention_model
    take = generate(model, PROMPT, GenerationParams(duration=1.0, seed=3, top_k=32))
    inputs = teacher.prepare(model, take)
    fast = model.with_speed(SpeedSettings(int8=True))
    with torch.no_grad():
        reference = teacher.forward(model, inputs)[1]
        kl_max, top1 = _kl_top1(reference, teacher.forward(fast, inputs)[1])
    assert kl_max < 1e-3 and top1 >= 0.9
    assert not torch.equal(reference, teacher.forward(fast, inputs)[1].detach())  # really other arithmetic


def test_cross_attention_kv_projected_once_per_generation_gives_the_same_take(custom_attention_model):
    """With int8 the condition's cross-attention keys/values are projected once per layer and generation
    (the condition does not change between steps) and reused; with that cache off the same seed gives the
    same codes, bit for bit."""
    from agx_desktop.engine.speed import Int8InProjection, kv_cache_counts
    fast = custom_attention_model.with_speed(SpeedSettings(int8=True))
    params = GenerationParams(duration=0.5, seed=5, top_k=32)
    cached = generate(fast, "a bell rings", params)
    reused, computed = kv_cache_counts(fast.lm)
    steps = cached.codes.shape[-1] + 3  # delay pattern: K - 1 more steps
    assert computed == 2 * 2 and reused == 2 * 2 * (steps - 1)  # 2 layers x (k, v)
    weights = [m.in_proj_weight for m in _in_projections(fast) if m.cross_attention]
    assert all(isinstance(w, Int8InProjection) for w in weights)
    for w in weights:
        w._cache_kv = False
    try:
        every_step = generate(fast, "a bell rings", params)
    finally:
        for w in weights:
            w._cache_kv = True
    assert torch.equal(cached.codes, every_step.codes) and np.array_equal(cached.audio, every_step.audio)
    assert kv_cache_counts(fast.lm) == (reused, computed)  # the cache was really off


def test_int8_with_bf16_shares_the_int8_copy(custom_attention_model):
    """int8+bf16 is the int8 copy sampled under bf16 autocast (nothing float is left for bf16 to store);
    turning int8 off gives the float LM back, not the copy."""
    model = custom_attention_model
    both = model.with_speed(SpeedSettings(int8=True, bf16=True))
    only = both.with_speed(SpeedSettings(int8=True))
    back = both.with_speed(SpeedSettings())
    assert only.lm is both.lm and back.lm is model.lm
    take = generate(both, PROMPT, P)
    assert np.isfinite(take.audio).all() and take.speed["label"] == "bf16+int8"


def _audiocraft_generate(lm, prompt: str, seed: int, steps: int) -> torch.Tensor:
    """audiocraft's own ``LMModel.generate`` (sampling, top-k, CFG), seeded."""
    from agx_desktop.engine.model_inputs import conditions_for
    torch.manual_seed(seed)
    return lm.generate(None, conditions_for(prompt), max_gen_len=steps, use_sampling=True, temp=1.0, top_k=32,
                       cfg_coef=3.0, two_step_cfg=False)


@pytest.mark.parametrize("which", ["tiny (custom attention)", "bundled (trained)"])
def test_cross_kv_cache_is_exact_against_audiocrafts_generate(which, custom_attention_model):
    """speed.cross_kv_cache (the condition's cross-attention K/V projected once per generation, float32)
    gives audiocraft's own generate the same codes, bit for bit, while answering every step after the
    first from the cache; on exit the model's float Parameters are back, untouched."""
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.speed import cross_kv_cache, kv_cache_counts
    lm = (custom_attention_model if which.startswith("tiny") else load_model("bundled", "cpu")).lm
    before = {n: p for n, p in lm.named_parameters()}
    plain = _audiocraft_generate(lm, "a dog barks then a bell rings", 11, 20)
    with torch.no_grad(), cross_kv_cache(lm, min_dim=0) as swapped:
        cached = _audiocraft_generate(lm, "a dog barks then a bell rings", 11, 20)
        reused, computed = kv_cache_counts(lm)
    layers = len(lm.transformer.layers)
    assert swapped == layers and computed == 2 * layers and reused == 2 * layers * (20 + 3 - 1)
    assert torch.equal(plain, cached)
    after = {n: p for n, p in lm.named_parameters()}
    assert after.keys() == before.keys() and all(after[n] is before[n] for n in before)
    with cross_kv_cache(lm) as swapped:  # small models are left alone by default (Python-bound steps)
        assert swapped == 0


def test_engine_generate_uses_the_cross_kv_cache_on_wide_lms(custom_attention_model, monkeypatch):
    """The engine's generate runs inside speed.cross_kv_cache where the lean step (which keeps its own K/V)
    is not in place: on an LM at least CROSS_KV_MIN_DIM wide (here the tiny model counts as wide) every step
    after the first answers the condition's K/V from the cache, and the take is the same audio, bit for bit,
    as with the cache off."""
    import contextlib
    from agx_desktop.engine import generation, speed

    @contextlib.contextmanager
    def no_lean(lm, *args):
        yield False
    monkeypatch.setattr(generation, "lean_transformer", no_lean)
    params = GenerationParams(duration=0.5, seed=9, top_k=32)
    model = custom_attention_model
    plain = generate(model, "a dog barks then a bell rings", params)
    seen: list[tuple[int, int]] = []
    real_generate = model.lm.generate

    def counting_generate(*args, **kwargs):
        out = real_generate(*args, **kwargs)
        seen.append(speed.kv_cache_counts(model.lm))  # still inside the cache when the LM returns
        return out
    monkeypatch.setattr(speed, "CROSS_KV_MIN_DIM", 0)
    monkeypatch.setattr(model.lm, "generate", counting_generate)
    cached = generate(model, "a dog barks then a bell rings", params)
    layers = len(model.lm.transformer.layers)
    assert seen and seen[0][1] == 2 * layers and seen[0][0] > 0  # computed once per layer (K, V), then reused
    assert torch.equal(plain.codes, cached.codes) and np.array_equal(plain.audio, cached.audio)
    assert all(isinstance(p, torch.nn.Parameter) for p in model.lm.parameters())  # put back after


def test_the_live_map_works_under_int8_and_the_kv_cache(custom_attention_model):
    """The live map (engine/live.py) reads the cross-attention in-projection's query/key rows: under int8
    it gets the int8 values, under the float K/V cache the float ones, and one row arrives per step; with
    the cache the rows equal those without it."""
    from agx_desktop.engine.speed import cross_kv_cache
    model = custom_attention_model
    params = GenerationParams(duration=0.5, seed=4, top_k=32)

    def live_rows(m):
        rows = []
        take = generate(m, "a dog barks", params, on_live=lambda step, scores: rows.append((step, scores.copy())))
        return take, rows
    take, rows = live_rows(model.with_speed(SpeedSettings(int8=True)))
    assert [s for s, _ in rows] == list(range(take.codes.shape[-1] + 3)) and all(np.isfinite(r).all() for _, r in rows)
    plain_take, plain = live_rows(model)
    with cross_kv_cache(model.lm, min_dim=0):
        cached_take, cached = live_rows(model)
    assert torch.equal(plain_take.codes, cached_take.codes)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(plain, cached)) and len(plain) == len(cached)
