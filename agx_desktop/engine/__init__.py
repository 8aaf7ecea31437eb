"""AGX engine: AudioGen generation, cross-attention intervention and explanations, free of Qt.

The data flow is prompt -> :func:`generation.generate` -> :class:`take.Take` ->
:func:`explain.explain` -> :class:`explain.Explanation`.
"""
