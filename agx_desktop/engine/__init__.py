"""AGX engine: AudioGen generation, cross-attention intervention and explanations, free of Qt.

The data flow is prompt -> :func:`generation.generate` -> :class:`take.Take` ->
:func:`explain.explain` -> :class:`explain.base.Explanation`.
"""
import logging as _logging

# audiocraft imports xformers at import time; on machines without a matching CUDA build xformers
# logs a long traceback although nothing of it is used here (we never set memory_efficient on CPU).
_logging.getLogger("xformers").setLevel(_logging.ERROR)
