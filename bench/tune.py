"""Search cost against the final run: ICE's auto-tuning on 2 % subsets, then the full run with the best values.

Prints the search time, the final run's time and the search's share of it (target <= 20 %), with the
final run's test accuracy, and writes them to `--out` (JSON), where the README reads them. The final run fine-tunes on `--finetune-images` images per step (default:
the whole training split, one pass per step, as the reference's CIFAR run does).

    python bench/tune.py --model resnet20 --trials 6 --sampler grid
    python bench/tune.py --model resnet20 --finetune-images 2560      # a shorter final run
"""
import copy
import json
import time

from common import bench_parser, dense_model  # bench/common.py, beside this script
from ice_nb.session import ICEConfig, PruningSession
from ice_nb.train import atomic_write_text, seed_everything
from ice_nb.tune import AutoTuner, ice_session_factory


def main(argv=None):
    settings, parser = bench_parser(__doc__)
    parser.add_argument("--ratio", type=float, default=settings.ratio)
    parser.add_argument("--sampler", default="grid", choices=("grid", "tpe", "random", "nsga2"))
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--finetune-images", type=float, default=1.0, help="final run: share (<= 1) or count per fine-tune")
    parser.add_argument("--max-drop", type=float, default=90.0,
                        help="stop a trial that loses more points (2 %% subsets cannot hold ResNet-20 at 0.6 within 30)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="docs/bench/tune.json", help="where the results go (JSON)")
    args = parser.parse_args(argv)

    data, dense, record = dense_model(args.model, args.data, settings.pretrain_epochs, args.device, settings)
    finetune = int(args.finetune_images) if args.finetune_images > 1 else args.finetune_images
    config = ICEConfig.paper(finetune_images=finetune, batch_size=settings.batch_size, seed=settings.seed)
    tuner = AutoTuner(ice_session_factory(dense, args.ratio, config=config, device=args.device), data,
                      sampler=args.sampler, n_trials=args.trials, seed=settings.seed, max_drop=args.max_drop)
    tuner.search()
    seed_everything(settings.seed)
    final = PruningSession(copy.deepcopy(dense), data, args.ratio, config=tuner.best_config(config), device=args.device)
    start = time.perf_counter()
    final.run()
    final_seconds = time.perf_counter() - start
    report = tuner.report(final_seconds)
    test_accuracy, fine_tuned = final.evaluate_test(), final.summary()["fine_tuned"]
    print(f"{args.model} on {args.data} (dense test {record['test_accuracy']:.2f} %), {args.sampler} x {args.trials} trials "
          f"on 2 % subsets; best {report['best_params']}")
    print(f"  search {report['search_seconds']:.1f} s, final run {final_seconds:.1f} s "
          f"(test {test_accuracy:.2f} %, fine-tuned {fine_tuned}/{len(final.records)}), "
          f"total {report['total_seconds']:.1f} s")
    print(f"  search / final run = {report['search_share']:.3f}   (target <= 0.20)")
    result = dict(model=args.model, dataset=args.data, sampler=args.sampler, trials=args.trials, finetune_images=finetune,
                  best_params=report["best_params"], search_seconds=report["search_seconds"], final_seconds=final_seconds,
                  search_share=report["search_share"], test_accuracy=test_accuracy,
                  fine_tuned=fine_tuned, steps=len(final.records))
    atomic_write_text(json.dumps(result, indent=1), args.out)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
