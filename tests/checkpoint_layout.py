"""Hub-layout checkpoint folders for tests (own module: two conftest.py files share that name)."""
from __future__ import annotations

import os

import torch


def write_hub_layout_checkpoint(folder, seed: int = 0, dim: int = 32, conditioner: dict | None = None,
                                solver: str = "audiogen", sample_rate: int = 16000) -> None:
    """Write state_dict.bin + compression_state_dict.bin like the hub's (cfg + best_state).

    By default the LM uses audiocraft's 'lut' text conditioner with the no-op tokenizer (no
    downloads); ``conditioner`` replaces that config (e.g. a T5 one, see hub_cache.py).
    """
    from omegaconf import OmegaConf
    from audiocraft.models import builders

    torch.manual_seed(seed)
    lm_cfg = {
        "lm_model": "transformer_lm", "device": "cpu", "dtype": "float32", "solver": solver,
        "dataset": {"segment_duration": 2.0},
        "transformer_lm": {"n_q": 4, "card": 32, "dim": dim, "num_heads": 2, "num_layers": 1,
                           "hidden_scale": 2, "norm": "layer_norm", "norm_first": True, "bias_proj": False,
                           "bias_ff": False, "bias_attn": False, "causal": True, "custom": False,
                           "memory_efficient": False, "cross_attention": True, "past_context": None},
        "codebooks_pattern": {"modeling": "delay", "delay": {"delays": [0, 1, 2, 3]}},
        "classifier_free_guidance": {"training_dropout": 0.1, "inference_coef": 3.0},
        "attribute_dropout": {},
        "fuser": {"cross_attention_pos_emb": False, "cross_attention_pos_emb_scale": 1,
                  "sum": [], "prepend": [], "cross": ["description"], "input_interpolate": []},
        "conditioners": {"description": conditioner or {"model": "lut",
                                                        "lut": {"n_bins": 64, "dim": 16, "tokenizer": "noop"}}},
    }
    codec_cfg = {
        "compression_model": "encodec", "device": "cpu",
        "encodec": {"autoencoder": "seanet", "quantizer": "rvq", "sample_rate": sample_rate, "channels": 1,
                    "causal": False, "renormalize": False},
        "seanet": {"dimension": 16, "channels": 1, "n_filters": 2, "n_residual_layers": 1,
                   "ratios": [8, 5, 4, 2], "lstm": 0, "encoder": {}, "decoder": {}},
        "rvq": {"n_q": 4, "bins": 32},
    }
    lm = builders.get_lm_model(OmegaConf.create(lm_cfg))
    codec = builders.get_compression_model(OmegaConf.create(codec_cfg))
    os.makedirs(folder, exist_ok=True)
    torch.save({"xp.cfg": lm_cfg, "best_state": lm.state_dict()}, os.path.join(folder, "state_dict.bin"))
    torch.save({"xp.cfg": codec_cfg, "best_state": codec.state_dict()},
               os.path.join(folder, "compression_state_dict.bin"))
