"""The ONNX spiking IR (DESIGN.md section 6, rung 3; docs/ir.md)."""
