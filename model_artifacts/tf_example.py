"""Run in the TensorFlow tools venv (tf_tools.py): the SavedModel example, trained with TensorFlow.

    python tf_example.py request.json

The request (written by keras_example.train_saved_model_example) holds the training texts, their
label ids and the ExampleConfig. A ``TextVectorization`` is adapted on the texts, an Embedding +
LSTM is trained on its ids with TensorFlow, and ``model.export`` writes the SavedModel (serving
signature: token ids in, class probabilities out) to request["out"]/saved_model, with the
vocabulary as ``{**layer.get_config(), "vocabulary": layer.get_vocabulary()}`` in vocab.json, and
the same model behind its TextVectorization (raw texts in) to request["out"]/saved_model_text.
Only TensorFlow, Keras, numpy and the standard library are imported here.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf


def train(request: dict) -> dict:
    import keras

    cfg, out = request["config"], Path(request["out"])
    texts, labels = request["texts"], np.asarray(request["labels"], dtype=np.int64)
    keras.utils.set_random_seed(cfg["seed"])
    vectorizer = keras.layers.TextVectorization(max_tokens=cfg["num_words"],
                                                output_sequence_length=cfg["sequence_length"])
    vectorizer.adapt(tf.constant(texts))
    x = vectorizer(tf.constant(texts)).numpy()  # padded "post", as TextVectorization does
    model = keras.Sequential([
        keras.Input((cfg["sequence_length"],), dtype="int32", name="token_ids"),
        keras.layers.Embedding(cfg["num_words"], cfg["embedding_dim"], name="embedding"),
        keras.layers.LSTM(cfg["lstm_units"], name="lstm"),
        keras.layers.Dense(request["classes"], activation="softmax", name="probabilities"),
    ])
    model.compile(keras.optimizers.Adam(cfg["learning_rate"]), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x, labels, epochs=cfg["epochs"], batch_size=cfg["batch_size"], verbose=0)
    seconds = round(time.perf_counter() - start, 1)
    out.mkdir(parents=True, exist_ok=True)
    model.export(str(out / "saved_model"), format="tf_saved_model", verbose=False)
    # the same weights behind their TextVectorization: a signature that takes the raw texts
    text_model = keras.Sequential([keras.Input((1,), dtype="string", name="text"), vectorizer, model])
    text_model.export(str(out / "saved_model_text"), format="tf_saved_model", verbose=False)
    (out / "vocab.json").write_text(json.dumps({**vectorizer.get_config(), "vocabulary": vectorizer.get_vocabulary()}))
    return {"config": cfg, "seconds": seconds, "threads": 1, "padding": "post",
            "train_accuracy": round(float(history.history["accuracy"][-1]), 4),
            "tensorflow": tf.__version__, "keras": keras.__version__}


def main(argv: list[str]) -> int:
    (request_file,) = argv
    print(json.dumps(train(json.loads(Path(request_file).read_text(encoding="utf-8")))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
