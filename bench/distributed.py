"""Fine-tuning throughput of one pruning session on several processes (torchrun, DDP) against one process.

The same session (ice_nb's pipeline, same dense model, same data) runs in each mode: P processes of T threads
each (`PxT`), launched with torchrun when P > 1. The modes alternate round by round so that the machine's noise
falls on all of them. Prints each mode's fine-tuning images/s (the images of every fine-tuning pass over the
seconds of the `finetune` phase), the run's wall time, whether its decisions (which steps were fine-tuned) are
those of the one-process run, and the ratios; writes them to `--out` (JSON), where the README reads them.
Target on a 2-core CPU: 2x1 / 1x1 >= 1.7 with the decisions identical.

    python bench/distributed.py                                    # 1x1, 2x1, 1x2 on the CPU
    python bench/distributed.py --device cuda --modes 1x1 8x1      # one GPU vs eight (one process per GPU)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from common import bench_parser, dense_model  # bench/common.py, beside this script
from ice_nb.train import atomic_write_text


def worker(args, settings):
    "One run of the session, in this process (and its torchrun peers); rank 0 writes what it measured to args.worker."
    from ice_nb.distributed import LOCAL, join_process_group, launched_by_torchrun
    from ice_nb.session import ICEConfig, PruningSession
    torch.set_num_threads(args.threads)
    distributed = launched_by_torchrun()
    comm, device = join_process_group(args.device) if distributed else (LOCAL, args.device)
    with comm.main_first():   # the dense model is cached by the parent already: every process loads it
        data, dense, _ = dense_model(args.model, args.data, settings.pretrain_epochs, str(device), settings)
    config = ICEConfig(finetune_images=args.finetune_images, decision_images=args.decision_images, final_epochs=0)
    session = PruningSession(dense, data, args.ratio, config=config, device=device, distributed=distributed)
    start = time.perf_counter()
    session.run()
    wall = time.perf_counter() - start
    if not comm.is_main: return
    fine_tuned = [r for r in session.records if r.fine_tuned]
    images = sum(r.finetune_batches for r in fine_tuned) * config.batch_size
    seconds = sum(r.seconds.get("finetune", 0.0) for r in fine_tuned)
    result = dict(world=comm.world, threads=torch.get_num_threads(), device=str(session.device),
                  decisions=[r.fine_tuned for r in session.records], drops=[r.drop for r in session.records],
                  finetune_images=images, finetune_seconds=seconds, images_per_second=images / seconds if seconds else None,
                  wall_seconds=wall, summary={k: v for k, v in session.summary().items() if k != "seconds"},
                  records=[asdict(r) for r in session.records])
    atomic_write_text(json.dumps(result, default=str), args.worker)


def launch(mode: str, args, out: Path) -> dict:
    "Run the session in `mode` (PxT) in fresh processes; returns what rank 0 measured."
    processes, threads = (int(x) for x in mode.split("x"))
    own = ["--worker", str(out), "--threads", str(threads), "--model", args.model, "--data", args.data, "--device", args.device,
           "--ratio", str(args.ratio), "--finetune-images", str(args.finetune_images), "--decision-images", str(args.decision_images)]
    script = str(Path(__file__).resolve())
    command = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), script, *own]
               if processes > 1 else [sys.executable, script, *own])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"mode {mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def main(argv=None):
    settings, parser = bench_parser(__doc__)
    parser.add_argument("--modes", nargs="+", default=["1x1", "2x1", "1x2"], help="PxT: P processes of T threads (first: the reference)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each mode, alternating")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ratio", type=float, default=0.6)
    parser.add_argument("--finetune-images", type=int, default=2560, help="images per fine-tuning pass")
    parser.add_argument("--decision-images", type=int, default=500)
    parser.add_argument("--out", default="docs/bench/distributed.json", help="where the results go (JSON)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker: return worker(args, settings)

    dense_model(args.model, args.data, settings.pretrain_epochs, args.device, settings)   # pretrained once, cached
    scratch = Path(settings.run_dir) / "bench-distributed"
    scratch.mkdir(parents=True, exist_ok=True)
    runs = {mode: [] for mode in args.modes}
    for r in range(args.rounds):
        for mode in (args.modes if r % 2 == 0 else list(reversed(args.modes))):
            runs[mode].append(launch(mode, args, scratch / f"{mode}-{r}.json"))
            print(f"  round {r + 1} {mode}: {runs[mode][-1]['images_per_second']:.1f} fine-tuning images/s", flush=True)

    reference = args.modes[0]
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None
    print(f"one pruning session on several processes: {args.model} on {args.data}, ratio {args.ratio}, "
          f"{args.finetune_images} images per fine-tune, {args.device}{f' ({gpu})' if gpu else ''}, {args.rounds} rounds alternating")
    table = {}
    for mode, results in runs.items():
        rate = statistics.median(x["images_per_second"] for x in results)
        wall = statistics.median(x["wall_seconds"] for x in results)
        same = all(x["decisions"] == runs[reference][0]["decisions"] for x in results)
        table[mode] = dict(images_per_second=rate, wall_seconds=wall, same_decisions=same,
                           fine_tuned=[sum(x["decisions"]) for x in results], steps=len(results[0]["decisions"]))
    for mode, row in table.items():
        print(f"  {mode:<5} {row['images_per_second']:8.1f} images/s  x{row['images_per_second'] / table[reference]['images_per_second']:.2f}"
              f"   run {row['wall_seconds']:6.1f} s  x{table[reference]['wall_seconds'] / row['wall_seconds']:.2f}"
              f"   fine-tuned {row['fine_tuned']} of {row['steps']} steps, decisions {'identical' if row['same_decisions'] else 'DIFFER'}")
    target = None
    if "2x1" in table and reference == "1x1":
        ratio = table["2x1"]["images_per_second"] / table["1x1"]["images_per_second"]
        met = ratio >= 1.7 and table["2x1"]["same_decisions"]
        target = dict(ratio=ratio, same_decisions=table["2x1"]["same_decisions"], met=met)
        print(f"  fine-tuning throughput 2x1 / 1x1 = {ratio:.2f}, decisions {'identical' if target['same_decisions'] else 'differ'}"
              f"   (target >= 1.7 with identical decisions: {'met' if met else 'MISSED'})")
    result = dict(model=args.model, dataset=args.data, ratio=args.ratio, finetune_images=args.finetune_images,
                  decision_images=args.decision_images, device=args.device, gpu=gpu, cpus=os.cpu_count(), rounds=args.rounds,
                  modes=table, target=target, runs={m: [{k: v for k, v in x.items() if k != "records"} for x in rs] for m, rs in runs.items()})
    atomic_write_text(json.dumps(result, indent=1), args.out)
    print(f"written to {args.out}")
    return result


if __name__ == "__main__":
    main()
