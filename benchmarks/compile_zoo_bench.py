"""torch.compile on aie vs eager aie for nets of the compile zoo (tests/compile_zoo.py):
first call (compilation included, fresh Inductor cache) and steady-state median.

Eager and compiled calls alternate, one of each per round, so drifting machine load
hits both alike; the steady-state figures are medians over all rounds.

    .venv/bin/python benchmarks/compile_zoo_bench.py [--threads N] [--runs R] [name ...]
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="torch_aie_inductor_bench_"))

import torch  # noqa: E402

import compile_zoo  # noqa: E402
import torch_aie  # noqa: E402
from common import interleaved_medians_ms  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--runs", type=int, default=201, help="rounds of one eager and one compiled call")
    ap.add_argument("names", nargs="*", metavar="name",
                    help=f"nets of the zoo (default: all of {', '.join(sorted(compile_zoo.ZOO))})")
    args = ap.parse_args()
    unknown = sorted(set(args.names) - set(compile_zoo.ZOO))
    if unknown:
        ap.error(f"unknown net(s) {unknown}; the zoo has {sorted(compile_zoo.ZOO)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"host ISA: {torch_aie.host_isa()}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}, Inductor cache {os.environ['TORCHINDUCTOR_CACHE_DIR']}")
    print(f"{'net':18s} {'eager ms':>9s} {'compiled 1st s':>15s} {'compiled ms':>12s} {'ratio':>6s}")
    for name in args.names or sorted(compile_zoo.ZOO):
        model = compile_zoo.build(name).to("aie")
        x = compile_zoo.example_input(name).to("aie")
        torch._dynamo.reset()
        with torch.no_grad():
            compiled = torch.compile(model)
            t0 = time.perf_counter()
            compiled(x)
            first = time.perf_counter() - t0
            eager, steady = interleaved_medians_ms([lambda: model(x), lambda: compiled(x)], runs=args.runs, warmup=5)
        print(f"{name:18s} {eager:9.3f} {first:15.2f} {steady:12.3f} {steady / eager:6.2f}", flush=True)


if __name__ == "__main__":
    main()
