#!/usr/bin/env python3
"""PyTorch baseline for `deepnet train --model char_lstm`: the same model, data split and recipe,
timed to a validation loss. Prints one JSON line. Run it with a PyTorch virtualenv outside the
repository, on as many threads as deepnet had:

    /opt/torchenv/bin/python tools/bench/torch_char_lm.py --threads 2 \
        --text ../shared/data/shakespeare/shakespeare.txt --epochs 2 --target-loss 1.60

What is the same as deepnet's defaults (change both sides together):
  * data: the text's characters (a leading BOM dropped), the first 90% train, the last 10%
    validation (deepnet_data::text); the vocabulary is the train part's sorted distinct
    characters; windows of seq_len + 1 = 101 ids at stride seq_len, the inputs w[:, :-1], the
    targets w[:, 1:]; every window read from a zero state;
  * model: Embedding(V, 64) -> LSTM(64, 256, num_layers=2, batch_first=True) -> Linear(256, V),
    PyTorch's default initialization (deepnet's is the same distributions);
  * recipe: batches of 64 windows, reshuffled every epoch (the last batch smaller), Adam
    (lr 2e-3, betas 0.9/0.999, eps 1e-8), the gradient norm clipped to 5, the learning rate
    annealed by a cosine over the epochs, stepped once per epoch (CosineAnnealingLR(T_max =
    epochs, eta_min = 0)); the loss the mean cross-entropy per character (nats).

Timing: `train_seconds` counts only training steps (no evaluation), as deepnet's
`train_seconds` does; `train_cpu_seconds` is the process's CPU time in those steps (all
threads), a figure that a machine shared with other work disturbs less than the wall clock. With --target-loss the validation loss is also measured every
--eval-every batches from step --eval-from on (the clock stopped meanwhile) and the run stops at the first evaluation at
or below the target: `seconds_to_target` is the training time until then. Without it, the run
evaluates after each epoch only, as deepnet does.
"""
import argparse
import json
import math
import time

import torch
from torch import nn
import torch.nn.functional as F


class CharLstm(nn.Module):
    def __init__(self, vocab, embed, hidden, layers, dropout):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids):
        y, _ = self.lstm(self.embed(ids))
        return self.head(y)


def windows(ids, seq_len):
    n = (len(ids) - 1) // seq_len
    starts = torch.arange(n) * seq_len
    return torch.stack([ids[s:s + seq_len + 1] for s in starts.tolist()])


def loss_of(model, w):
    logits = model(w[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1))


@torch.no_grad()
def evaluate(model, val, batch):
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(val), batch):
        w = val[i:i + batch]
        total += loss_of(model, w).item() * len(w)
        count += len(w)
    model.train()
    return total / count


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--text", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--embedding-dim", type=int, default=64)
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip-norm", type=float, default=5.0)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--limit", type=int, default=None, help="first N train and val windows")
    p.add_argument("--target-loss", type=float, default=None)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--eval-from", type=int, default=0,
                   help="with --target-loss: the first step to evaluate at (evaluations are costly)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    with open(a.text, encoding="utf-8") as f:
        text = f.read()
    text = text.removeprefix("\ufeff")
    n_val = round(len(text) * a.val_fraction)
    train_text, val_text = text[:len(text) - n_val], text[len(text) - n_val:]
    chars = sorted(set(train_text))
    index = {c: i for i, c in enumerate(chars)}
    encode = lambda s: torch.tensor([index[c] for c in s], dtype=torch.long)
    train = windows(encode(train_text), a.seq_len)
    val = windows(encode(val_text), a.seq_len)
    if a.limit:
        train, val = train[:a.limit], val[:a.limit]

    model = CharLstm(len(chars), a.embedding_dim, a.hidden_size, a.num_layers, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs, eta_min=0.0)
    train_seconds, train_cpu, steps, seen, reached, history = 0.0, 0.0, 0, 0, None, []
    for epoch in range(1, a.epochs + 1):
        order = torch.randperm(len(train))
        total, count = 0.0, 0
        for i in range(0, len(train), a.batch):
            w = train[order[i:i + a.batch]]
            t0, c0 = time.perf_counter(), time.process_time()
            loss = loss_of(model, w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if a.clip_norm > 0:
                nn.utils.clip_grad_norm_(model.parameters(), a.clip_norm)
            opt.step()
            value = loss.item()
            train_seconds += time.perf_counter() - t0
            train_cpu += time.process_time() - c0
            total += value * len(w)
            count += len(w)
            steps += 1
            seen += len(w)
            due = steps >= a.eval_from and (steps - a.eval_from) % a.eval_every == 0
            if a.target_loss is not None and due:
                v = evaluate(model, val, 256)
                history.append({"step": steps, "train_seconds": train_seconds,
                                "train_cpu_seconds": train_cpu, "val_loss": v})
                if v <= a.target_loss:
                    reached = train_seconds
                    break
        sched.step()
        if reached is not None:
            break
        # the loss just measured at this step, or a fresh evaluation
        same = history and history[-1]["step"] == steps
        v = history[-1]["val_loss"] if same else evaluate(model, val, 256)
        history.append({"step": steps, "epoch": epoch, "train_seconds": train_seconds,
                        "train_cpu_seconds": train_cpu, "train_loss": total / count,
                        "val_loss": v})
        if a.target_loss is not None and v <= a.target_loss:
            reached = train_seconds
            break
    print(json.dumps({
        "torch_version": torch.__version__, "threads": a.threads, "vocab": len(chars),
        "train_windows": len(train), "val_windows": len(val),
        "parameters": sum(p.numel() for p in model.parameters()), "steps": steps,
        "train_seconds": train_seconds, "train_cpu_seconds": train_cpu,
        "sequences_per_sec": seen / max(train_seconds, 1e-9),
        "target_loss": a.target_loss, "seconds_to_target": reached,
        "val_loss": history[-1]["val_loss"] if history else math.nan,
        "val_bpc": (history[-1]["val_loss"] / math.log(2)) if history else math.nan,
        "history": history,
    }))


if __name__ == "__main__":
    main()
