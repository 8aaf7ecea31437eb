"""The evaluation protocol of the AudioGenX paper (Tables 1-2): ``agx evaluate``.

Above the engine: it imports ``agx_desktop.engine``, the engine never imports it (contract in
pyproject.toml ``[tool.importlinter]``, checked by tests/test_architecture.py).

* :mod:`.protocol` — the inputs (caption file, method names) and one caption's record;
* :mod:`.metrics` — faithfulness (Fid, KL, size) and the audio classifiers;
* :mod:`.memory` — peak memory of one explanation (CUDA, glibc ``mallinfo2``, RSS);
* :mod:`.store` — results.jsonl / run.json and the lock shards share;
* :mod:`.tables` — Table 1 and Table 2 (Markdown, CSV);
* :mod:`.cli` — the ``agx evaluate`` subcommand (registered through the ``agx_desktop.commands``
  entry point) and its resumable run.
"""
