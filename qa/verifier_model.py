"""The verifier's torch model: MiniLM with a sentence logit and a span head (training and export only).

Kept apart from ``qa/verifier.py`` so that answering with the int8 ONNX export
never imports torch or transformers' model code (about 5 s of a cold start).
"""

from __future__ import annotations

from pathlib import Path

import torch

GT, LT = 1028, 1026  # word-piece ids of ">" and "<" in MiniLM's (BERT uncased) vocabulary


def candidate_mask(input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
    """1 on the candidate's own word pieces (between ``>>`` and ``<<``), else 0.

    Pooling only these makes the logit describe the marked sentence, read in
    context: pooled over the whole input, the sentence just before an answer
    scored as high as the answer itself, because the answer sat in its context.
    A row whose markers were cut off falls back to all its real tokens.
    """
    second = token_type_ids.bool() if token_type_ids is not None else torch.ones_like(input_ids, dtype=torch.bool)
    gt, lt = (input_ids == GT) & second, (input_ids == LT) & second
    opens = torch.zeros_like(gt)
    opens[:, 2:] = gt[:, :-2] & gt[:, 1:-1]  # first piece after ">>"
    started = opens.long().cumsum(1) > 0
    closes = torch.zeros_like(lt)
    closes[:, :-1] = lt[:, :-1] & lt[:, 1:] & started[:, :-1]  # the first "<" of "<<"
    span = (started & ~(closes.long().cumsum(1) > 0) & attention_mask.bool()).long()
    empty = (span.sum(1, keepdim=True) == 0).long()
    return span + empty * attention_mask.long()  # arithmetic, not torch.where: ONNX Runtime lacks Where on bool


class VerifierModel(torch.nn.Module):
    """MiniLM encoder, mean pooling over the candidate's word pieces, a linear layer: one logit per pair.

    With ``spans`` a second linear layer gives each word piece of the candidate a start and an end
    logit: where in the sentence the answer phrase lies (the short answer). Pieces outside the
    candidate get ``-1e4``, so a span never leaves the sentence.
    """

    def __init__(self, encoder, spans: bool = True):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(encoder.config.hidden_size, 1)
        self.span = torch.nn.Linear(encoder.config.hidden_size, 2) if spans else None

    def read(self, input_ids, attention_mask, token_type_ids=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logit per pair, start logits, end logits per word piece); zeros for a model without spans."""
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = candidate_mask(input_ids, attention_mask, token_type_ids).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        logit = self.head(self.dropout(pooled))[:, 0]
        if self.span is None:
            zeros = torch.zeros_like(input_ids, dtype=hidden.dtype)
            return logit, zeros, zeros
        ends = self.span(self.dropout(hidden)) + (mask - 1.0) * 1e4  # arithmetic masking (ONNX-friendly)
        return logit, ends[..., 0], ends[..., 1]

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        return self.read(input_ids, attention_mask, token_type_ids)[0]

    def save(self, folder: Path) -> None:
        """config.json and float16 model.safetensors (encoder weights under ``encoder.``, and ``head.``)."""
        from safetensors.torch import save_file

        self.encoder.config.save_pretrained(folder)
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})

    @classmethod
    def load(cls, folder: Path) -> VerifierModel:
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel

        encoder = AutoModel.from_config(
            AutoConfig.from_pretrained(str(folder), local_files_only=True), add_pooling_layer=False
        )
        state = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
        model = cls(encoder, spans="span.weight" in state)
        model.load_state_dict(state)
        return model.eval()


class Exportable(torch.nn.Module):
    """Positional inputs for ``torch.onnx.export`` (transformers 5's BERT takes keywords only)."""

    def __init__(self, model: VerifierModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model.read(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
