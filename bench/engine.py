"""ICE against the baseline pipeline, side by side in one process (same dense model, data and seed).

For one pretrained model (cached by `ice_nb.train.pretrain`) it runs:
  * baseline  - fine-tune after every step at the fixed LR (all three ICE switches off);
  * ice       - the paper's ICE: trigger on the dense reference, freezing, pruning-aware LR;
  * ice+      - ice_nb's extensions on: `last` reference and `until_recovered` fine-tuning;
  * floor     - prune only, never fine-tune;
then a fine-tuning pass with freezing (fr=0.5) against one without, on the same batches.
Prints each pipeline's time, steps fine-tuned and test accuracy, and the ratios.

    python bench/engine.py --model resnet20
    python bench/engine.py --model resnet56 --pretrain-epochs 1 --finetune-images 1280
"""
import argparse
import copy
import json
import time


from ice_nb.config import load_settings
from ice_nb.data import fetch_data, load_data
from ice_nb.freeze import apply_freeze
from ice_nb.session import ICEConfig, PruningSession
from ice_nb.train import pretrain, seed_everything, tune_cpu_malloc


def run_pipeline(name, dense, data, ratio, config, device):
    seed_everything(config.seed)
    session = PruningSession(copy.deepcopy(dense), data, ratio=ratio, config=config, device=device)
    start = time.perf_counter()
    session.run()
    seconds = time.perf_counter() - start
    summary = session.summary()
    test = session.evaluate_test()
    phases = {k: round(v, 1) for k, v in summary["seconds"].items()}
    print(f"  {name:<9} {seconds:7.1f} s  fine-tuned {summary['fine_tuned']:>2}/{summary['steps']}  "
          f"test {test:6.2f} %  MACs kept {summary['macs_kept']:.3f}  phases {phases}", flush=True)
    return dict(seconds=seconds, test_accuracy=test, fine_tuned=summary["fine_tuned"], steps=summary["steps"],
                macs_kept=summary["macs_kept"], params_kept=summary["params_kept"], phases=phases), session


def dense_model(model: str, dataset: str, epochs: int, device: str, settings):
    "The data and the cached dense model that a benchmark starts from."
    if device == "cpu": tune_cpu_malloc()
    if dataset != "synthetic": fetch_data(dataset, settings.data_root)
    data = load_data(dataset, settings.data_root, val_size=settings.val_size, seed=settings.seed)
    dense, record = pretrain(model, data, epochs=epochs, lr=settings.pretrain_lr, batch_size=settings.batch_size,
                             seed=settings.seed, device=device, cache_dir=f"{settings.run_dir}/dense")
    return data, dense, record


def freeze_step_ratio(session, rounds=3):
    "Seconds of one fine-tuning pass with the session's freezing plan over one without, alternating."
    model = copy.deepcopy(session.model)
    times = {"frozen": [], "trainable": []}
    for r in range(rounds):
        for mode in (("frozen", "trainable") if r % 2 == 0 else ("trainable", "frozen")):
            for p in model.parameters(): p.requires_grad_(True)
            if mode == "frozen": apply_freeze(model, session.freeze_plan)
            batches = session._batches(session.finetune_set, train=True, seed=r)
            start = time.perf_counter()
            session._fine_tune_pass(model, session.config.base, batches)
            times[mode].append(time.perf_counter() - start)
    return sorted(times["frozen"])[rounds // 2] / sorted(times["trainable"])[rounds // 2], times


def main(argv=None):
    settings = load_settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--ratio", type=float, default=settings.ratio)
    parser.add_argument("--pretrain-epochs", type=int, default=settings.demo_epochs)
    parser.add_argument("--finetune-images", type=int, default=2560, help="training images per fine-tuning pass")
    parser.add_argument("--decision-images", type=int, default=1000, help="validation images per decision")
    parser.add_argument("--thre", type=float, default=settings.thre)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="write the results here as JSON")
    args = parser.parse_args(argv)

    data, dense, record = dense_model(args.model, args.data, args.pretrain_epochs, args.device, settings)
    print(f"{args.model} on {args.data}: dense test {record['test_accuracy']:.2f} % "
          f"({'cached' if record['cached'] else 'pretrained'}), ratio {args.ratio}, "
          f"{args.finetune_images} images per fine-tune, decisions on {args.decision_images} validation images", flush=True)
    common = dict(finetune_images=args.finetune_images, decision_images=args.decision_images, seed=settings.seed,
                  batch_size=settings.batch_size, base=settings.base, p=settings.p, beta=settings.beta, delta=settings.delta)
    configs = {
        "baseline": ICEConfig.baseline(**common),
        "ice": ICEConfig(thre=args.thre, fr=0.5, **common),
        "ice+": ICEConfig(thre=args.thre, fr=0.5, reference="last", budget="until_recovered", **common),
        "floor": ICEConfig(use_trigger=True, thre=1e9, use_freeze=False, **common),
    }
    results, sessions = {}, {}
    for name, config in configs.items():
        results[name], sessions[name] = run_pipeline(name, dense, data, args.ratio, config, args.device)
    base = results["baseline"]
    print("ratios (measured in this run):")
    for name in ("ice", "ice+"):
        r = results[name]
        print(f"  {name:<5} speed-up over baseline {base['seconds'] / r['seconds']:.2f}x, "
              f"accuracy gap {r['test_accuracy'] - base['test_accuracy']:+.2f} pp, "
              f"time / floor {r['seconds'] / results['floor']['seconds']:.2f}")
    ratio, times = freeze_step_ratio(sessions["ice"])
    print(f"  fine-tune pass with fr=0.5 frozen / none frozen = {ratio:.3f}  (target <= 0.75; "
          f"seconds frozen {[round(t, 2) for t in times['frozen']]}, none {[round(t, 2) for t in times['trainable']]})")
    results["freeze_step_ratio"] = ratio
    if args.out:
        with open(args.out, "w") as f: json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
