"""What freezing saves: one fine-tuning pass with the probe's plan (fr frozen) against one with nothing frozen.

Same model (pruned by the first `--steps` ICE steps), same batches, alternating order, median of `--rounds`.
Prints the seconds and writes them, with the ratio, to `--out` (JSON), where the tutorials read it.
The whole pipelines are compared by `ice-nb bench`.

    python bench/freeze.py --model resnet56 --fr 0.5 --out docs/bench/freeze.json
"""
import copy
import json

import torch

from common import bench_parser, dense_model, timed  # bench/common.py, beside this script
from ice_nb.freeze import apply_freeze, frozen_fraction
from ice_nb.session import ICEConfig, PruningSession
from ice_nb.train import atomic_write_text


def pass_seconds(session, model, frozen: bool, seed: int) -> float:
    for p in model.parameters(): p.requires_grad_(True)
    if frozen: apply_freeze(model, session.freeze_plan)
    batches = session._batches(session.finetune_set, train=True, seed=seed)
    return timed(lambda: session._fine_tune_pass(model, session.config.base, batches), session.device)


def main(argv=None):
    settings, parser = bench_parser(__doc__)
    parser.set_defaults(model=settings.model)
    parser.add_argument("--fr", type=float, default=settings.fr if settings.fr is not None else ICEConfig.paper().fr)
    parser.add_argument("--finetune-images", type=int, default=2560)
    parser.add_argument("--steps", type=int, default=0, help="ICE steps before measuring (0: the dense model)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="docs/bench/freeze.json", help="where the results go (JSON)")
    args = parser.parse_args(argv)

    data, dense, _ = dense_model(args.model, args.data, settings.pretrain_epochs, args.device, settings)
    config = ICEConfig.paper(fr=args.fr, finetune_images=args.finetune_images, batch_size=settings.batch_size, seed=settings.seed)
    session = PruningSession(copy.deepcopy(dense), data, settings.ratio, config=config, device=args.device)
    session.setup()
    for _ in range(args.steps): session.step()
    model = copy.deepcopy(session.model)
    times = {True: [], False: []}
    for r in range(args.rounds):
        for frozen in ((True, False) if r % 2 == 0 else (False, True)):
            times[frozen].append(pass_seconds(session, model, frozen, seed=r))
    apply_freeze(model, session.freeze_plan)
    median = lambda xs: sorted(xs)[len(xs) // 2]
    ratio = median(times[True]) / median(times[False])
    print(f"{args.model}, fr {args.fr}, {args.finetune_images} images, after {args.steps} steps on {args.device}: "
          f"frozen {[round(t, 2) for t in times[True]]} s, none {[round(t, 2) for t in times[False]]} s")
    print(f"  fine-tune pass frozen / none = {ratio:.3f}")
    results = dict(model=args.model, dataset=args.data, fr=args.fr, finetune_images=len(session.finetune_set),
                   batch_size=settings.batch_size, steps=args.steps, device=args.device, threads=torch.get_num_threads(),
                   frozen_convolutions=len(session.freeze_plan.frozen), convolutions=len(session.freeze_plan.pairs),
                   frozen_params=frozen_fraction(model), seconds_frozen=times[True], seconds_none=times[False],
                   frozen_over_none=ratio)
    atomic_write_text(json.dumps(results, indent=1) + "\n", args.out)
    print(f"  written to {args.out}")


if __name__ == "__main__":
    main()
