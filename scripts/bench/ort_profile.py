"""onnxruntime's time per operator type on one graph, the counterpart of
`edgepaint bench --profile` (which gives tract's and ours per operator):

  python3 -m scripts.bench.ort_profile GRAPH.onnx INPUTS_DIR [RUNS] [THREADS]

INPUTS_DIR holds one NAME.npy per graph input (`edgepaint bench
--save-inputs DIR` writes them). Runs RUNS (default 3) profiled runs after 3
warm-up runs and prints, per ONNX operator type, the milliseconds per run
and the node count, largest first. Needs numpy and onnxruntime."""
import collections
import json
import os
import sys
import tempfile

import numpy as np
import onnxruntime as ort


def per_op_type(trace, runs):
    """{op type: (ms per run, nodes)} over the last `runs` runs of an onnxruntime
    profile (its JSON events; each run is one "model_run" event)."""
    windows = sorted((e["ts"], e["ts"] + e["dur"]) for e in trace if e.get("name") == "model_run")[-runs:]
    total, nodes = collections.defaultdict(float), collections.defaultdict(set)
    for event in trace:
        args = event.get("args", {})
        if not (event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time") and "op_name" in args):
            continue
        if any(start <= event["ts"] <= end for start, end in windows):
            total[args["op_name"]] += event["dur"] / 1000.0
            nodes[args["op_name"]].add(event["name"])
    return {op: (ms / len(windows), len(nodes[op])) for op, ms in total.items()}


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    path, inputs_dir = argv[0], argv[1]
    runs = int(argv[2]) if len(argv) > 2 else 3
    threads = int(argv[3]) if len(argv) > 3 else 1
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {i.name: np.load(os.path.join(inputs_dir, i.name + ".npy")) for i in session.get_inputs()}
        for _ in range(3 + runs):  # 3 warm-up runs: onnxruntime is not steady before (bench_compare.py)
            session.run(None, feed)
        with open(session.end_profiling()) as f:
            trace = json.load(f)
    table = per_op_type(trace, runs)
    for op, (ms, n) in sorted(table.items(), key=lambda kv: -kv[1][0]):
        print(f"  {op:<28} {n:>4} nodes {ms:>9.1f} ms")
    print(f"  {'total':<28} {'':>10} {sum(ms for ms, _ in table.values()):>9.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
