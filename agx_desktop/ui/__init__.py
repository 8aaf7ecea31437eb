"""AGX Desktop's Qt front end (PySide6 + pyqtgraph).

Layout:
  * ``app``        — ``main()``: QApplication, main window, event loop;
  * ``paths``, ``settings``, ``store`` — data dir (platformdirs, ``AGX_DATA_DIR`` overrides it),
    remembered settings, autosaved takes/explanations;
  * ``jobs``       — a single queue running engine calls off the GUI thread, with progress and cancel;
  * ``analysis``   — numpy-only spectrogram/envelope/thumbnail computations (run in workers);
  * ``export``     — WAV export (bit depth, resampling, LUFS/peak normalisation, metadata, atomic);
  * ``playback``   — sounddevice playback with a stream-clock playhead (injectable stream for tests);
  * ``widgets/``   — the views; they display state and send requests, never call torch.
"""
