"""Per-unit ratios from sensitivity against the uniform ratio, at the same MACs kept.

Runs ice_nb's pipeline on the quick benchmark's setting (ResNet-56, Fashion-MNIST) twice per seed:
every unit at the preset's ratio (0.6), then with the ratios that `allocate_ratios` chooses from a
sensitivity measurement (each unit pruned alone at 0.6) to keep the same share of the MACs. Prints,
side by side, test accuracy, MACs and params kept, steps fine-tuned and seconds; the allocated run's
seconds include its sensitivity measurement. A third run gives the uniform ratio the same time budget:
as many more final fine-tuning passes as the allocated run's extra seconds pay for. Writes every row, and
the setting, to `--out` (JSON), where the tutorials read them.

    python bench/allocation.py --seeds 0 1 --out docs/bench/allocation.json
"""
import copy
import json
import math
import time
from dataclasses import replace

import torch

from common import bench_parser, dense_model
from ice_nb.bench import PRESETS
from ice_nb.sensitivity import set_allocated_ratios
from ice_nb.session import ICEConfig, PruningSession
from ice_nb.train import atomic_write_text, seed_everything


def run(dense, data, preset, config, device, allocation=None):
    """(session, seconds, seconds measuring): a run at the preset's ratio, or at `set_allocated_ratios(**allocation)`'s.
    The seconds measuring (sensitivity and allocation, the session's set-up included) are part of the seconds."""
    seed_everything(config.seed)
    session = PruningSession(copy.deepcopy(dense), data, preset.ratio, preset.criterion, config, device=device)
    start = time.perf_counter()
    if allocation is not None: set_allocated_ratios(session, **allocation)
    measured = time.perf_counter() - start
    session.run()
    return session, time.perf_counter() - start, measured


def main():
    settings, parser = bench_parser(__doc__)
    parser.set_defaults(model="resnet56")
    parser.add_argument("--epochs", type=int, default=2, help="pretraining epochs of the dense model (cached)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--images", type=int, default=500, help="decision images of the sensitivity measurement")
    parser.add_argument("--finetune-images", type=int, help="images per fine-tuning pass (default: the quick preset's)")
    parser.add_argument("--min-ratio", type=float, help="allocate_ratios' min_ratio (default: its own)")
    parser.add_argument("--max-ratio", type=float, help="allocate_ratios' max_ratio (default: its own)")
    parser.add_argument("--out", default="docs/bench/allocation.json", help="where the results go (JSON)")
    args = parser.parse_args()
    preset = PRESETS["quick"]
    if args.finetune_images: preset = replace(preset, finetune_images=args.finetune_images)
    data, dense, _ = dense_model(args.model, args.data, args.epochs, args.device, settings)
    print(f"{args.model} on {args.data}, ice_nb's pipeline, {preset.finetune_images} images per fine-tune\n")
    print("| seed | ratios | seconds | fine-tuned | MACs kept | params kept | test acc. |")
    print("|---|---|---|---|---|---|---|")
    gaps, results = [], []
    for seed in args.seeds:
        config = ICEConfig(finetune_images=preset.finetune_images, decision_images=preset.decision_images, seed=seed)
        rows = {}
        uniform, rows["uniform"], _ = run(dense, data, preset, config, args.device)
        target = uniform.summary()["macs_kept"]
        allocation = dict(macs_kept=target, images=args.images, min_ratio=args.min_ratio, max_ratio=args.max_ratio)
        allocated, rows["allocated"], measure_seconds = run(dense, data, preset, config, args.device, allocation)
        per_pass = uniform.final_seconds["final"] / config.final_epochs
        extra = max(0, math.ceil((rows["allocated"] - rows["uniform"]) / per_pass))
        longer_config = replace(config, final_epochs=config.final_epochs + extra)
        longer, rows["longer"], _ = run(dense, data, preset, longer_config, args.device)
        accuracy, runs = {}, {}
        labels = {"uniform": f"{preset.ratio} for all", "longer": f"{preset.ratio} for all, {extra} more final passes"}
        for name, session in (("uniform", uniform), ("allocated", allocated), ("longer", longer)):
            s, accuracy[name] = session.summary(), session.evaluate_test()
            low, high = min(session.ratios.values()), max(session.ratios.values())
            label = labels.get(name, f"allocated, {low:.2f} to {high:.2f}")
            print(f"| {seed} | {label} | {rows[name]:.1f} | {s['fine_tuned']}/{s['steps']} | {s['macs_kept']:.1%} | "
                  f"{s['params_kept']:.1%} | {accuracy[name]:.2f} % |", flush=True)
            runs[name] = dict(seconds=rows[name], fine_tuned=s["fine_tuned"], steps=s["steps"], macs_kept=s["macs_kept"],
                              params_kept=s["params_kept"], test_accuracy=accuracy[name], min_ratio=low, max_ratio=high,
                              final_epochs=session.config.final_epochs)
        runs["allocated"]["measure_seconds"] = measure_seconds
        results.append(dict(seed=seed, final_pass_seconds=per_pass, extra_final_passes=extra, runs=runs))
        gaps.append((accuracy["allocated"] - accuracy["uniform"], rows["allocated"] / rows["uniform"],
                     accuracy["allocated"] - accuracy["longer"], rows["allocated"] / rows["longer"]))
    for seed, (gap, time_ratio, gap_longer, time_longer) in zip(args.seeds, gaps):
        print(f"seed {seed}: allocated - uniform = {gap:+.2f} points (seconds x{time_ratio:.2f}); allocated - uniform with "
              f"the same time budget = {gap_longer:+.2f} points (seconds x{time_longer:.2f})")
    setting = dict(model=args.model, dataset=args.data, ratio=preset.ratio, criterion=preset.criterion,
                   finetune_images=preset.finetune_images, decision_images=preset.decision_images,
                   sensitivity_images=args.images, min_ratio=args.min_ratio, max_ratio=args.max_ratio,
                   device=args.device, threads=torch.get_num_threads())
    atomic_write_text(json.dumps(dict(setting=setting, seeds=results), indent=1) + "\n", args.out)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
