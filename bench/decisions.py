"""How much do ice_nb's cheap decisions change the trigger's decisions?

Runs ice_nb's pipeline on the quick benchmark's setting and, at every step, takes the decision again
on the whole validation split (5,000 images by default), paired against the same reference model
(the dense model, then the model after each fine-tune), without recalibration or early stopping
changing anything in the run. Prints, per step, the cheap decision (images read, drop) beside the
full-validation one, then how often they differ and what each cost, and writes the same to `--out`
(JSON), where the README reads them.

    python bench/decisions.py                  # ResNet-56 / Fashion-MNIST, as `ice-nb bench --quick`
"""
import copy
import json
import time

from common import bench_parser, dense_model
from ice_nb.bench import PRESETS
from ice_nb.session import ICEConfig, PruningSession
from ice_nb.train import atomic_write_text, evaluate, seed_everything


def main():
    settings, parser = bench_parser(__doc__)
    parser.set_defaults(model="resnet56")
    parser.add_argument("--epochs", type=int, default=2, help="pretraining epochs of the dense model (cached)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="docs/bench/decisions.json", help="where the results go (JSON)")
    args = parser.parse_args()
    preset = PRESETS["quick"]
    data, dense, _ = dense_model(args.model, args.data, args.epochs, args.device, settings)
    config = ICEConfig(finetune_images=preset.finetune_images, decision_images=preset.decision_images, seed=settings.seed)
    seed_everything(config.seed)
    session = PruningSession(copy.deepcopy(dense), data, preset.ratio, preset.criterion, config, device=args.device)
    full_val = data.batches(data.val, config.batch_size, session.device)
    session.setup()
    reference = evaluate(session.model, full_val).correct   # the dense model, on every validation image
    full_drops, full_seconds = [], []

    def full_decision(s):
        start = time.perf_counter()
        now = evaluate(s.model, full_val).correct
        full_seconds.append(time.perf_counter() - start)
        full_drops.append(100.0 * float(reference.float().mean() - now.float().mean()))

    def before_fine_tuning(s):   # the model as the decision saw it: pruned and recalibrated, not yet fine-tuned
        if s.progress.phase == "fine-tuning" and s.progress.batch == 0 and s.progress.unit != "final":
            full_decision(s)

    session.listeners.append(before_fine_tuning)
    print(f"{'step':>4} {'unit':<10} {'images':>6} {'drop':>6} {'fires':>5} | {'full drop':>9} {'fires':>5}")
    for _ in range(len(session.units)):
        record = session.step()
        if not record.fine_tuned:
            full_decision(session)
        full_fires = full_drops[-1] >= config.thre
        mark = "" if full_fires == record.fine_tuned else "  <- differs"
        print(f"{record.step + 1:>4} {record.unit:<10} {record.decision_images:>6} {record.drop:6.2f} {record.fine_tuned!s:>5} | "
              f"{full_drops[-1]:9.2f} {full_fires!s:>5}{mark}")
        if record.fine_tuned:
            reference = evaluate(session.model, full_val).correct   # the new `last` reference
    records = session.records
    differ = [r.step for d, r in zip(full_drops, records) if (d >= config.thre) != r.fine_tuned]
    cheap = [r.seconds.get("eval", 0.0) for r in records if not r.fine_tuned]
    result = dict(model=args.model, dataset=args.data, thre=config.thre, validation_images=len(data.val), steps=len(records),
                  differ=differ, cheap_images=sum(r.decision_images for r in records) / len(records),
                  mean_drop_difference=sum(abs(d - r.drop) for d, r in zip(full_drops, records)) / len(records),
                  cheap_seconds=sum(cheap) / max(1, len(cheap)), full_seconds=sum(full_seconds) / len(full_seconds),
                  per_step=[dict(step=r.step, unit=r.unit, images=r.decision_images, drop=r.drop, fired=r.fine_tuned,
                                 full_drop=d, full_fires=d >= config.thre) for d, r in zip(full_drops, records)])
    print(f"\n{len(differ)} of {len(records)} decisions differ from the full-validation decision "
          f"({len(data.val)} images); cheap decisions read {result['cheap_images']:.0f} images "
          f"on average; mean |drop difference| {result['mean_drop_difference']:.2f} points")
    print(f"seconds per decision: cheap {result['cheap_seconds']:.3f} (steps without fine-tuning), full validation "
          f"{result['full_seconds']:.3f}")
    atomic_write_text(json.dumps(result, indent=1), args.out)
    print(f"written to {args.out}")

if __name__ == "__main__":
    main()
