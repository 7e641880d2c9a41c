"""scripts/bench/ort_profile.py on a two-node graph: each op type once, with its node count."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from scripts.bench import ort_profile


def test_profile_lists_each_op_type(tmp_path, capsys):
    w = numpy_helper.from_array(np.ones((8, 4), np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [w])
    path = str(tmp_path / "g.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    np.save(tmp_path / "x.npy", np.ones((2, 8), np.float32))
    ort_profile.main([path, str(tmp_path), "2", "1"])
    lines = capsys.readouterr().out.splitlines()
    ops = {line.split()[0]: int(line.split()[1]) for line in lines if "nodes" in line}
    assert ops == {"MatMul": 1, "Relu": 1}
    assert lines[-1].split()[0] == "total"
