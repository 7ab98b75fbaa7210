"""The pure inference core: numpy, onnxruntime, tokenizers and the stdlib only."""
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .manifest import MANIFEST_FILE, MODEL_FILE, TOKENIZER_FILE, FileEntry, Manifest, file_entry, sha256_file
from .model import InferenceModel, Limits, RunResult, validate_texts
from .overflow import DIRECTIONS, ON_OVERFLOW, Overflow, Windows
from .postprocess import cosine_matrix, l2_normalize, mean_pool, pool_windows, softmax
from .session import create_session
from .text_encoder import TextEncoder, length_buckets, pad_batch

__all__ = [
    *_errors_all,
    "Manifest", "FileEntry", "file_entry", "sha256_file", "MANIFEST_FILE", "MODEL_FILE", "TOKENIZER_FILE",
    "InferenceModel", "Limits", "RunResult", "length_buckets", "validate_texts",
    "cosine_matrix", "l2_normalize", "mean_pool", "softmax", "pool_windows",
    "Overflow", "Windows", "ON_OVERFLOW", "DIRECTIONS", "create_session", "TextEncoder", "pad_batch",
]
