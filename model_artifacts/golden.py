"""Golden reference outputs from PyTorch, for the runtime's tests (which cannot import torch)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .export import LoadedModel, torch_batch
from .tokenization import encode, pad, pad_id

EXTRA_TEXTS = (
    "I love it 😍🔥 best day ever!!! 🎉",
    "Café au lait à Paris, très décevant… naïve façade",
    "東京の天気は今日とても良いです",
    "?!",
)


def pick_texts(texts: Sequence[str], tokenizer, n: int = 24) -> list[str]:
    """Varied texts: length quantiles (shortest, longest, truncated), non-ASCII ones, plus a few extras."""
    rows = encode(tokenizer, texts)
    order = np.argsort([len(r) for r in rows], kind="stable")
    n_quantiles = n - len(EXTRA_TEXTS) - 4
    picks = [int(order[round(q)]) for q in np.linspace(0, len(order) - 1, n_quantiles)]
    non_ascii = [i for i in range(len(texts)) if not texts[i].isascii() and i not in picks][:4]
    return [texts[i] for i in picks + non_ascii] + list(EXTRA_TEXTS)


@torch.inference_mode()
def reference_outputs(loaded: LoadedModel, tokenizer, texts: Sequence[str]) -> list[list[float]]:
    """Each text run alone (no padding): the plain PyTorch answer."""
    pid = pad_id(tokenizer)
    out = []
    for row in encode(tokenizer, texts):
        result = loaded.wrapper(*torch_batch(pad([row], pid), loaded.input_names)).numpy()[0]
        out.append([float(x) for x in result])
    return out


def write_golden(path: Path, loaded: LoadedModel, tokenizer, texts: Sequence[str], max_length: int) -> None:
    data = {"texts": list(texts), "outputs": reference_outputs(loaded, tokenizer, texts),
            "reference": f"pytorch {torch.__version__}", "labels": list(loaded.labels),
            "task": loaded.task, "output_name": loaded.output_name, "max_length": max_length,
            "note": "each text run alone through the PyTorch fp32 model the artifacts were exported from"}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


__all__ = ["pick_texts", "reference_outputs", "write_golden", "EXTRA_TEXTS"]
