"""Model pipeline: fine-tune, export to ONNX, quantize, prune, evaluate and publish artifacts.

torch and transformers live here only; ``functions/`` never imports this package.
"""
__all__ = ["cli", "build", "build_defaults", "publish"]
