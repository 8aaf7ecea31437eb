"""Counterfactual occlusion: posterior Gumbel noise, exact reproduction of the take, anchoring, ground truth."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agx_desktop.engine import teacher
from agx_desktop.engine.errors import Cancelled, ParameterError
from agx_desktop.engine.explain import SUMMARIES, available_methods, explain
from agx_desktop.engine.explain._common import step_targets
from agx_desktop.engine.explain.occlusion import counterfactual_codes, guided_log_probs, posterior_gumbel
from agx_desktop.engine.generation import generate
from agx_desktop.engine.progress import CancelToken
from agx_desktop.engine.take import GenerationParams
from test_explain import _one_word_model


def test_posterior_noise_picks_the_observed_code_and_is_gumbel_on_average():
    """Observed codes drawn from p, noise from its posterior: the argmax is the observed code, and the
    noise is marginally plain Gumbel(0, 1) (mean = Euler's constant, for every code)."""
    gen = torch.Generator().manual_seed(0)
    log_p = torch.log_softmax(torch.tensor([2.0, 0.5, 0.0, -1.0, -3.0]), dim=0)
    n = 40_000
    chosen = torch.multinomial(log_p.exp(), n, replacement=True, generator=gen)
    noise = posterior_gumbel(log_p.expand(n, -1), chosen, gen)
    assert torch.equal((log_p + noise).argmax(-1), chosen)
    np.testing.assert_allclose(noise.double().mean(0).numpy(), 0.5772, atol=0.03)
    # nothing observed (-1): plain Gumbel noise
    free = posterior_gumbel(log_p.expand(n, -1), torch.full((n,), -1), gen)
    np.testing.assert_allclose(free.double().mean(0).numpy(), 0.5772, atol=0.03)


def test_registered_and_the_take_comes_back_with_nothing_muted(tiny_model, tiny_take):
    assert "occlusion" in available_methods()
    assert set(SUMMARIES) == set(available_methods())  # every method has its one line for menus
    ex = explain(tiny_model, tiny_take, method="occlusion")
    assert ex.extras["reproduced"] is True  # row 0 (no mute) regenerated the take's codes exactly
    assert ex.extras["reference_distance"] < 1e-3
    assert ex.step_masks.shape == (tiny_take.latents.shape[0], len(tiny_take.text.tokens))
    assert (ex.step_masks >= 0).all() and (ex.step_masks <= 1).all() and ex.step_masks.max() == 1
    assert ex.params["draws"] == 3 and ex.params["max_batch"] == 32  # a small LM: 32 regenerations at a time
    again = explain(tiny_model, tiny_take, method="occlusion")
    np.testing.assert_array_equal(ex.step_masks, again.step_masks)


def test_anchored_counterfactuals_keep_the_take_before_the_focus(tiny_model, tiny_take):
    """With the noise of every step forced to the take's codes before `anchor`, every muted
    regeneration starts with the take's own frames, and differs somewhere after."""
    inputs = teacher.prepare(tiny_model, tiny_take)
    log_p = guided_log_probs(tiny_model, tiny_take, inputs)
    targets = step_targets(tiny_model, tiny_take)
    K, S, card = log_p.shape
    anchor = 25  # frames
    pattern = tiny_model.lm.pattern_provider.get_pattern(inputs.n_frames)
    forced = torch.zeros(K, S, dtype=torch.bool)
    for s in range(S):
        for c in pattern.layout[s + 1]:
            forced[c.q, s] = c.t < anchor
    keep = torch.full((K, S, card), -1e9).scatter_(-1, targets.clamp(min=0)[..., None], 0.0)
    noise = torch.where(forced[..., None], keep, posterior_gumbel(log_p, targets, torch.Generator().manual_seed(0)))
    L = len(tiny_take.text.tokens)
    masks = torch.zeros(2, L)  # everything muted: the strongest possible change
    masks[1, :] = 1.0  # nothing muted
    codes = counterfactual_codes(tiny_model, tiny_take, masks, noise, forced)
    take_codes = tiny_take.codes.long()
    assert torch.equal(codes[:, :, :anchor], take_codes[None, :, :anchor].expand(2, -1, -1))
    assert torch.equal(codes[1], take_codes)
    assert not torch.equal(codes[0], take_codes)


@pytest.mark.parametrize("seed", [0, 2])
def test_the_only_informative_token_ranks_first(seed):
    model = _one_word_model(seed)
    take = generate(model, "the loud thunder is in the distance", GenerationParams(duration=0.6, seed=2, top_k=32))
    ex = explain(model, take, method="occlusion")
    imp = ex.word_importance()
    i = ex.words.index("thunder")
    assert ex.extras["reproduced"]
    assert imp[i] > np.delete(imp, i).max(), dict(zip(ex.words, imp.round(3)))


def test_more_draws_average_and_bad_parameters_and_cancel(tiny_model, tiny_take):
    one = explain(tiny_model, tiny_take, method="occlusion", draws=1)
    two = explain(tiny_model, tiny_take, method="occlusion", draws=2)
    assert two.extras["reproduced"] and two.params["draws"] == 2
    assert not np.array_equal(one.step_masks, two.step_masks)
    with pytest.raises(ParameterError, match="focus"):
        explain(tiny_model, tiny_take, method="occlusion", focus="start")
    with pytest.raises(ParameterError, match="draws"):
        explain(tiny_model, tiny_take, method="occlusion", draws=0)
    with pytest.raises(ParameterError, match="epochs"):
        explain(tiny_model, tiny_take, method="occlusion", epochs=3)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        explain(tiny_model, tiny_take, method="occlusion", cancel=token)


def test_batching_does_not_change_the_result(tiny_model, tiny_take):
    """Rows of several draws share a batch; how they are split must not matter."""
    a = explain(tiny_model, tiny_take, method="occlusion", draws=2, max_batch=3)
    b = explain(tiny_model, tiny_take, method="occlusion", draws=2, max_batch=32)
    assert a.extras["reproduced"] and b.extras["reproduced"]
    np.testing.assert_allclose(a.step_masks, b.step_masks, atol=1e-4)


@pytest.mark.parametrize("params", [dict(top_p=0.6, top_k=0), dict(top_p=0.9, top_k=8), dict(top_k=0),
                                    dict(temperature=0.0), dict(temperature=0.7, cfg_coef=1.0)])
def test_every_sampler_setting_gives_the_take_back(tiny_model, params):
    """The posterior noise is built on the distribution the take was sampled from: nucleus (which wins
    over top-k in audiocraft), top-k, all codes, greedy, another temperature or guidance."""
    take = generate(tiny_model, "rain on a roof", GenerationParams(duration=0.5, seed=3, **params))
    ex = explain(tiny_model, take, method="occlusion", draws=1)
    assert ex.extras["reproduced"], params


@pytest.mark.parametrize("top_k,top_p", [(0, 0.5), (5, 0.8), (5, 0.0), (0, 0.0)])
def test_counterfactuals_sample_from_the_codes_audiocraft_would(top_k, top_p):
    """_restrict keeps exactly the codes audiocraft's sampler can draw (sample_top_p / sample_top_k)."""
    from audiocraft.utils import utils
    from agx_desktop.engine.explain.occlusion import _restrict
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 20, generator=gen) * 2
    kept = _restrict(logits, top_k, top_p) > -1e8
    probs = torch.softmax(logits, -1)
    if top_p > 0:
        srt, idx = probs.sort(-1, descending=True)
        allowed = ((srt.cumsum(-1) - srt) <= top_p).scatter(-1, idx, (srt.cumsum(-1) - srt) <= top_p)
        draws = torch.cat([utils.sample_top_p(probs.clone(), top_p) for _ in range(300)], -1)
    elif top_k > 0:
        allowed = probs >= probs.topk(top_k, -1).values[:, -1:]
        draws = torch.cat([utils.sample_top_k(probs.clone(), top_k) for _ in range(300)], -1)
    else:
        allowed = torch.ones_like(kept)
        draws = torch.multinomial(probs, 300, replacement=True)
    assert torch.equal(kept, allowed)
    assert kept.gather(-1, draws).all()  # nothing audiocraft drew is ruled out
    assert (kept.sum(-1) < 20).any() == (top_k > 0 or top_p > 0)


def _game_distances(plan, L: int, frames: int, distance) -> np.ndarray:
    """The rows' distances for a synthetic game: ``distance(on)`` for each row's set of tokens switched on."""
    return np.stack([np.full(frames, distance({j for j in range(L) if plan.masks[r, j] > 0}))
                     for r in range(plan.masks.shape[0])])


def test_shapley_coalitions_recover_additive_effects_and_split_redundant_ones():
    from agx_desktop.engine.explain.occlusion import OcclusionSettings, _plan
    L = 5
    plan = _plan(L, OcclusionSettings(coalitions="shapley", permutations=2))
    assert plan.masks.shape == (2 * (L + 1), L) and plan.draw.tolist() == [0] * (L + 1) + [1] * (L + 1)
    assert plan.masks[: L + 1].sum(1).tolist() == list(range(L + 1))  # switched on one by one
    # additive: each muted token adds its own distance -> every order gives each token exactly its own
    w = np.array([0.5, 0.0, 2.0, 0.1, 0.0])
    phi, ref = plan.attribute(_game_distances(plan, L, 3, lambda on: sum(w[j] for j in range(L) if j not in on)))
    np.testing.assert_allclose(phi, np.repeat(w[:, None], 3, 1))
    np.testing.assert_allclose(ref, 0.0)
    # redundant: tokens 1 and 3 say the same thing (either one makes the sound). Muting one alone
    # changes nothing, so single occlusion scores both 0; an order and its reverse split the credit.
    game = lambda on: 0.0 if on & {1, 3} else 4.0  # noqa: E731
    phi, _ = plan.attribute(_game_distances(plan, L, 2, game))
    np.testing.assert_allclose(phi[[1, 3]], 2.0)
    np.testing.assert_allclose(np.delete(phi, [1, 3], 0), 0.0)
    single = _plan(L, OcclusionSettings(draws=1))
    d, _ = single.attribute(_game_distances(single, L, 2, game))
    np.testing.assert_allclose(d, 0.0)
    # efficiency: per frame the importances add up to the distance of the all-muted regeneration
    rng = np.random.default_rng(0)
    table: dict = {}  # any game: a random distance per coalition, 0 with nothing muted
    game = lambda on: table.setdefault(frozenset(on), rng.random()) if len(on) < L else 0.0  # noqa: E731
    dist = _game_distances(plan, L, 1, game)
    phi, _ = plan.attribute(dist)
    np.testing.assert_allclose(phi.sum(0), dist[[0, L + 1]].mean(0))


def test_shapley_mode_reproduces_the_take_and_finds_the_informative_token(tiny_model, tiny_take):
    model = _one_word_model(0)
    take = generate(model, "the loud thunder is in the distance", GenerationParams(duration=0.6, seed=2, top_k=32))
    ex = explain(model, take, method="occlusion", coalitions="shapley", permutations=2)
    imp = ex.word_importance()
    i = ex.words.index("thunder")
    assert ex.extras["reproduced"] and ex.params["coalitions"] == "shapley" and ex.params["permutations"] == 2
    assert imp[i] > np.delete(imp, i).max(), dict(zip(ex.words, imp.round(3)))
    with pytest.raises(ParameterError, match="coalitions"):
        explain(tiny_model, tiny_take, method="occlusion", coalitions="pairs")
    with pytest.raises(ParameterError, match="permutations"):
        explain(tiny_model, tiny_take, method="occlusion", coalitions="shapley", permutations=0)
