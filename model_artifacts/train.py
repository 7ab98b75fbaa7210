"""Full fine-tuning of a BERT-family encoder for sequence classification (CPU, deterministic)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from .config import TrainConfig
from functions.nlp.text_encoder import length_buckets

from .tokenization import encode, load_tokenizer, pad, pad_id


def length_grouped_batches(lengths: np.ndarray, batch_size: int, group_factor: int,
                           rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle, sort by length inside mega-batches, then shuffle the batch order.

    Batches hold texts of similar length so dynamic padding wastes little, while the data
    order stays random (and fixed for a given seed).
    """
    order = rng.permutation(len(lengths))
    mega = batch_size * group_factor
    batches: list[np.ndarray] = []
    for start in range(0, len(order), mega):
        chunk = order[start:start + mega]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _to_torch(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in batch.items()}


def fine_tune(source: str | Path, texts: Sequence[str], labels: np.ndarray,
              label_names: Sequence[str], out_dir: str | Path, cfg: TrainConfig,
              progress: bool = True) -> dict:
    """Fine-tune every weight for ``cfg.epochs``; save model + tokenizer to ``out_dir``."""
    from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    id2label = dict(enumerate(label_names))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(source), num_labels=len(label_names), id2label=id2label,
        label2id={v: k for k, v in id2label.items()})
    tok = load_tokenizer(source, cfg.max_length)
    rows = encode(tok, texts)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    pid = pad_id(tok)
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
    epochs = [length_grouped_batches(lengths, cfg.batch_size, cfg.group_factor, rng)
              for _ in range(cfg.epochs)]
    steps = sum(len(e) for e in epochs)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_fraction * steps), steps)
    model.train()
    started = time.perf_counter()
    losses: list[float] = []
    bar = tqdm(total=steps, desc="fine-tune", unit="batch", disable=not progress)
    for batches in epochs:
        for idx in batches:
            inputs = _to_torch(pad([rows[i] for i in idx], pid))
            out = model(**inputs, labels=torch.from_numpy(labels[idx]))
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(out.loss.detach()))
            bar.update(1)
            if len(losses) % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-100:]):.3f}")
    bar.close()
    model.eval()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save(str(out_dir / "tokenizer.json"))
    info = {"steps": steps, "seconds": round(time.perf_counter() - started, 1),
            "final_loss": round(float(np.mean(losses[-100:])), 4), "config": cfg.__dict__,
            "train_texts": len(texts), "mean_tokens": round(float(lengths.mean()), 1)}
    (out_dir / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


@torch.inference_mode()
def predict_torch(model: torch.nn.Module, rows: Sequence[np.ndarray], pid: int,
                  batch_size: int = 64) -> np.ndarray:
    """Run a (wrapped) PyTorch model over token rows; outputs in input order."""
    results: list[np.ndarray | None] = [None] * len(rows)
    for idx in length_buckets(np.asarray([len(r) for r in rows]), batch_size):
        out = model(**_to_torch(pad([rows[i] for i in idx], pid))).numpy()
        for j, i in enumerate(idx):
            results[i] = out[j]
    return np.stack(results)  # type: ignore[arg-type]


__all__ = ["fine_tune", "length_grouped_batches", "predict_torch"]
