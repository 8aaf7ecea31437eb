"""Build a Hugging Face cache holding a tiny 'facebook/audiogen-medium' and 't5-large' in the hub's layout.

The files have the real names and formats (audiocraft ``state_dict.bin`` with ``xp.cfg`` +
``best_state``; a T5 encoder + SentencePiece tokenizer saved by transformers), only tiny, so the
real offline loading path (registry → audiocraft builders → T5Conditioner.from_pretrained) runs.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"
WORDS = "a dog barks then a bell rings rain falls on the roof wind howls thunder birds chirp engine hum".split()


def _snapshot(cache: Path, repo: str) -> Path:
    root = cache / ("models--" + repo.replace("/", "--"))
    snap = root / "snapshots" / FAKE_COMMIT
    snap.mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(FAKE_COMMIT)
    return snap


def _tiny_t5(dest: Path) -> None:
    import sentencepiece as spm
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))))
        spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(Path(tmp) / "spiece"), vocab_size=40,
                                       model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                       minloglevel=2)
        sp = spm.SentencePieceProcessor(model_file=str(Path(tmp) / "spiece.model"))
        vocab = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
        tok = T5Tokenizer(vocab=vocab, extra_ids=0)
        tok.save_pretrained(str(dest))
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=40, d_model=1024, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                   decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    T5EncoderModel(cfg).save_pretrained(str(dest))


def populate(cache: str | os.PathLike) -> Path:
    """Write the tiny audiogen-medium + t5-large into ``cache`` (a HF_HUB_CACHE folder)."""
    from checkpoint_layout import write_hub_layout_checkpoint

    from huggingface_hub import constants

    cache = Path(cache)
    before, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, True  # building must not probe the hub
    try:
        _tiny_t5(_snapshot(cache, "t5-large"))
        lm_dir = _snapshot(cache, "facebook/audiogen-medium")
        t5 = {"name": "t5-large", "finetune": False, "word_dropout": 0.0, "normalize_text": False}
        write_hub_layout_checkpoint(lm_dir, seed=2, dim=32, conditioner={"model": "t5", "t5": t5})
    finally:
        constants.HF_HUB_OFFLINE = before
    return cache
