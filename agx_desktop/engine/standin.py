"""Small audiocraft models built in-process from a fixed seed: no download, no spacy model.

Used by the tests (every engine feature runs on them) and as the registry's untrained
``stand-in`` model (only when asked for by that name). They are real audiocraft ``LMModel`` /
``EncodecModel`` instances, so the engine treats them exactly like audiogen-medium.
"""
from __future__ import annotations

import re
import typing as tp
import zlib

import torch
from torch import nn

from audiocraft.models import AudioGen
from audiocraft.models.encodec import EncodecModel
from audiocraft.models.lm import LMModel
from audiocraft.modules.codebooks_patterns import DelayedPatternProvider
from audiocraft.modules.conditioners import ConditionFuser, ConditioningProvider, TextConditioner
from audiocraft.modules.seanet import SEANetDecoder, SEANetEncoder
from audiocraft.quantization.vq import ResidualVectorQuantizer

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


class HashWordConditioner(TextConditioner):
    """One token per word or punctuation mark, embedded through a hashed lookup table.

    No positions and no context: enough for tests (each word is a distinct key/value in
    cross-attention), not for a model that must tell "A then B" from "B then A".
    """

    def __init__(self, output_dim: int, dim: int = 32, n_bins: int = 512, max_tokens: int = 64):
        super().__init__(dim, output_dim)
        self.n_bins = n_bins
        self.max_tokens = max_tokens
        self.embed = nn.Embedding(n_bins + 1, dim)  # index 0 = padding

    def token_strings(self, text: str) -> list[str]:
        return _TOKEN_RE.findall(text.lower())

    def _ids(self, text: str | None) -> list[int]:
        if not text:
            return []
        return [1 + zlib.crc32(t.encode()) % self.n_bins for t in self.token_strings(text)]

    def tokenize(self, x: tp.List[tp.Optional[str]]) -> tp.Dict[str, torch.Tensor]:
        ids = [self._ids(t) for t in x]
        length = max(1, max(len(i) for i in ids))
        input_ids = torch.zeros(len(x), length, dtype=torch.long)
        mask = torch.zeros(len(x), length, dtype=torch.long)
        for row, seq in enumerate(ids):
            input_ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, :len(seq)] = 1
        device = self.embed.weight.device
        return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}

    def forward(self, inputs: tp.Dict[str, torch.Tensor]) -> tp.Tuple[torch.Tensor, torch.Tensor]:
        mask = inputs["attention_mask"]
        embeds = self.output_proj(self.embed(inputs["input_ids"]))
        return embeds * mask.unsqueeze(-1).to(embeds), mask


def build_tiny_lm(dim: int = 64, num_layers: int = 2, num_heads: int = 4, card: int = 64, n_q: int = 4,
                  custom: bool = False, bias_attn: bool = False, seed: int = 0,
                  conditioner: TextConditioner | None = None, memory_efficient: bool = False) -> LMModel:
    """An AudioGen-shaped LM (cross-attention text conditioning, delay pattern) with seeded weights."""
    torch.manual_seed(seed)
    cond = conditioner or HashWordConditioner(output_dim=dim)
    provider = ConditioningProvider({"description": cond})
    fuser = ConditionFuser(fuse2cond={"cross": ["description"], "prepend": [], "sum": []})
    pattern = DelayedPatternProvider(n_q=n_q, delays=list(range(n_q)))
    lm = LMModel(pattern, provider, fuser, n_q=n_q, card=card, dim=dim, num_heads=num_heads,
                 num_layers=num_layers, hidden_scale=2, norm="layer_norm", norm_first=True,
                 cross_attention=True, custom=custom, memory_efficient=memory_efficient, bias_attn=bias_attn,
                 bias_ff=False, bias_proj=False, causal=True, cfg_dropout=0.0, cfg_coef=3.0,
                 two_step_cfg=False)
    return lm.eval()


def build_tiny_codec(card: int = 64, n_q: int = 4, sample_rate: int = 16000, seed: int = 0) -> EncodecModel:
    """A small EnCodec (SEANet + residual VQ), 50 Hz at 16 kHz like AudioGen's, untrained."""
    torch.manual_seed(seed)
    ratios = [8, 5, 4, 2]  # hop 320 -> 50 frames per second at 16 kHz
    kw = dict(channels=1, dimension=32, n_filters=4, n_residual_layers=1, ratios=ratios, lstm=0)
    encoder, decoder = SEANetEncoder(**kw), SEANetDecoder(**kw)
    quantizer = ResidualVectorQuantizer(dimension=32, n_q=n_q, bins=card)
    for layer in quantizer.vq.layers:  # k-means init would only happen in training: random codebooks instead,
        layer._codebook.embed.normal_()  # so that different codes decode to different audio
        layer._codebook.inited.fill_(1.0)
    frame_rate = sample_rate // 320
    return EncodecModel(encoder, decoder, quantizer, frame_rate=frame_rate, sample_rate=sample_rate,
                        channels=1, causal=False, renormalize=False).eval()


def build_tiny_model(name: str = "tiny", seed: int = 0, max_duration: float = 10.0, **lm_kwargs) -> AudioGen:
    """Tiny LM + tiny codec wrapped as audiocraft's ``AudioGen`` (the engine's model container)."""
    card = lm_kwargs.pop("card", 64)
    lm = build_tiny_lm(card=card, seed=seed, **lm_kwargs)
    codec = build_tiny_codec(card=card, n_q=lm.num_codebooks, seed=seed)
    return AudioGen(name=name, compression_model=codec, lm=lm, max_duration=max_duration)
