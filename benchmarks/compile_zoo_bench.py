"""torch.compile on aie vs eager aie for nets of the compile zoo (tests/compile_zoo.py):
first call (compilation included, fresh Inductor cache) and steady-state median.

    .venv/bin/python benchmarks/compile_zoo_bench.py [--threads N] [name ...]
"""
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
from common import median_ms  # noqa: E402


def main(names):
    print(f"host ISA: {torch_aie.host_isa()}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}, Inductor cache {os.environ['TORCHINDUCTOR_CACHE_DIR']}")
    print(f"{'net':18s} {'eager ms':>9s} {'compiled 1st s':>15s} {'compiled ms':>12s} {'ratio':>6s}")
    for name in names:
        model = compile_zoo.build(name).to("aie")
        x = compile_zoo.example_input(name).to("aie")
        torch._dynamo.reset()
        with torch.no_grad():
            eager = median_ms(lambda: model(x), runs=21, warmup=3)
            compiled = torch.compile(model)
            t0 = time.perf_counter()
            compiled(x)
            first = time.perf_counter() - t0
            steady = median_ms(lambda: compiled(x), runs=21, warmup=3)
        print(f"{name:18s} {eager:9.3f} {first:15.2f} {steady:12.3f} {steady / eager:6.2f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--threads"]:
        torch.set_num_threads(int(args[1]))
        args = args[2:]
    main(args or ["mbconv_se", "resnet_stem", "inception_dense"])
