"""Build-your-own classifier: embed rows with an embedding model, fit a logistic-regression head
(numpy), evaluate it on held-out rows, compose embedding graph + head into one ONNX, publish.
The ``train`` Lambda (functions/train/handler.py) runs it from its own queue."""
__all__ = ["head", "evaluate", "data", "pipeline", "compose", "publishing"]
