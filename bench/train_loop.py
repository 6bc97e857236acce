"""Throughput of ice_nb's `train_epoch` against a plain PyTorch training loop.

Same model, same batches, same device, in one process; the two alternate round by round so that the
machine's noise falls on both. Prints images/s of each and the ratio (target: >= 0.95), and writes them to
`--out` (JSON), where the README reads them.

    python bench/train_loop.py                      # ResNet-20, 10k Fashion-MNIST images per pass
    python bench/train_loop.py --data synthetic --images 2000 --rounds 2
"""
import copy
import json
import statistics

import torch
import torch.nn.functional as F

from common import bench_parser, timed  # bench/common.py, beside this script
from ice_nb.config import resolve_device
from ice_nb.data import fetch_data, load_data
from ice_nb.models import create_model_for
from ice_nb.train import atomic_write_text, train_epoch, tune_cpu_malloc


def plain_loop(model, batches, optimizer):
    "The loop a PyTorch user writes by hand (channels_last, as ice_nb runs it)."
    model.train()
    for x, y in batches:
        x = x.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()


def main(argv=None):
    settings, parser = bench_parser(__doc__)
    parser.add_argument("--images", type=int, default=10_000, help="training images per pass")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes of each loop")
    parser.add_argument("--batch-size", type=int, default=settings.batch_size)
    parser.add_argument("--device", default=settings.device)
    parser.add_argument("--out", default="docs/bench/train_loop.json", help="where the results go (JSON)")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    if device.type == "cpu": tune_cpu_malloc()  # for both loops alike
    if args.data != "synthetic": fetch_data(args.data, settings.data_root)
    data = load_data(args.data, settings.data_root, val_size=1000).subset(train=args.images)
    batches = data.loader("train", batch_size=args.batch_size, device=device, seed=0)
    torch.manual_seed(0)
    base = create_model_for(data, args.model).to(device).to(memory_format=torch.channels_last)
    models = {"plain loop": copy.deepcopy(base), "train_epoch": copy.deepcopy(base)}
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for k, m in models.items()}
    runs = {
        "plain loop": lambda: plain_loop(models["plain loop"], batches, opts["plain loop"]),
        "train_epoch": lambda: train_epoch(models["train_epoch"], batches, opts["train_epoch"], amp=False),
    }
    for name, m in models.items():  # warm-up: first-use costs (kernel selection, allocator) out of the timing
        warm = data.subset(train=min(len(data.train), 4 * args.batch_size)).loader("train", args.batch_size, device=device)
        plain_loop(m, warm, opts[name])
    seconds = {name: [] for name in runs}
    for r in range(args.rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in order:
            seconds[name].append(timed(runs[name], device))
    n = len(data.train)
    print(f"train_epoch vs a plain PyTorch loop: {args.model} on {args.data}, {n} images per pass, "
          f"batch {args.batch_size}, {device}, {args.rounds} rounds alternating")
    rate = {}
    for name, s in seconds.items():
        rate[name] = n / statistics.median(s)
        print(f"  {name:<12} {rate[name]:8.1f} images/s   (pass seconds: {', '.join(f'{x:.2f}' for x in s)})")
    ratio = rate["train_epoch"] / rate["plain loop"]
    print(f"  throughput ratio train_epoch / plain loop = {ratio:.3f}   (target >= 0.95: {'met' if ratio >= 0.95 else 'MISSED'})")
    result = dict(model=args.model, dataset=args.data, images=n, batch_size=args.batch_size, device=str(device),
                  threads=torch.get_num_threads(), rounds=args.rounds, seconds=seconds, images_per_second=rate, ratio=ratio)
    atomic_write_text(json.dumps(result, indent=1), args.out)
    print(f"written to {args.out}")
    return ratio


if __name__ == "__main__":
    main()
