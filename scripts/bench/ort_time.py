"""Time one f32-input ONNX graph in onnxruntime, the counterpart of
`examples/graph_time.rs` (same input values, same output format):

  python3 -m scripts.bench.ort_time GRAPH.onnx INPUT 1,4,64,64 [RUNS] [THREADS]

Prints the minimum and median milliseconds of RUNS (default 5) after one
warm-up run. Needs numpy and onnxruntime."""
import sys
import time

import numpy as np
import onnxruntime as ort


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    path, name = argv[0], argv[1]
    shape = [int(v) for v in argv[2].split(",")]
    runs = int(argv[3]) if len(argv) > 3 else 5
    threads = int(argv[4]) if len(argv) > 4 else 1
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    x = (np.arange(int(np.prod(shape))) * 7919 % 1000 / 500.0 - 1.0).astype(np.float32).reshape(shape)
    session.run(None, {name: x})
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, {name: x})
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    print(f"min {ms[0]:.1f} ms, median {ms[len(ms) // 2]:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
