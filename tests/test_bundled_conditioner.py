"""The bundled model's MiniLM text conditioner: contextual, null condition, token strings."""
import pytest
import torch

from agx_desktop.engine.bundled.conditioner import MiniLMConditioner


@pytest.fixture(scope="module")
def cond():
    torch.manual_seed(0)
    return MiniLMConditioner(output_dim=32, max_tokens=64).eval()


def _embed(cond, texts):
    with torch.no_grad():
        return cond(cond.tokenize(texts))


def test_token_strings(cond):
    toks = cond.token_strings("A dog barks then bells ring")
    assert toks[0] == "[CLS]" and toks[-1] == "[SEP]" and "dog" in toks
    e, m = _embed(cond, ["A dog barks then bells ring"])
    assert e.shape == (1, len(toks), 32) and int(m.sum()) == len(toks)
    assert cond.max_tokens == 64


def test_order_matters(cond):
    a = "a dog barks then a bell rings"
    b = "a bell rings then a dog barks"
    ea, _ = _embed(cond, [a])
    eb, _ = _embed(cond, [b])
    ta, tb = cond.token_strings(a), cond.token_strings(b)
    # same bag of words, but the 'dog' token differs with its context
    da = ea[0, ta.index("dog")]
    db = eb[0, tb.index("dog")]
    assert not torch.allclose(da, db, atol=1e-3)
    assert not torch.allclose(ea.sort(dim=1).values, eb.sort(dim=1).values, atol=1e-3)


def test_null_condition_is_zero(cond):
    e, m = _embed(cond, ["rain falls", None])
    assert int(m[1].sum()) == 0 and torch.count_nonzero(e[1]) == 0
    assert int(m[0].sum()) > 0 and torch.count_nonzero(e[0]) > 0


def test_only_projection_is_saved(cond):
    assert set(cond.state_dict()) == {"output_proj.weight", "output_proj.bias"}


def test_long_prompt_truncated(cond):
    e, m = _embed(cond, ["dog " * 200])
    assert e.shape[1] == cond.max_tokens
