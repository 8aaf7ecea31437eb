"""Entry point: ``agx-desktop`` (console script), ``python main.py`` or ``python -m agx_desktop.ui.app``."""
from __future__ import annotations

import os
import sys
import warnings


def apply_style(app) -> None:  # noqa: ANN001
    """Fusion with a dark palette, matching the dark plot panes."""
    from PySide6.QtGui import QColor, QPalette
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=False, background="#1e1f22", foreground="#d0d0d0")
    app.setStyle("Fusion")
    pal = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#2b2d31", QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1e1f22", QPalette.ColorRole.AlternateBase: "#26282c",
        QPalette.ColorRole.ToolTipBase: "#2b2d31", QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#3a3d42",
        QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.Highlight: "#2f7fd0",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.PlaceholderText: "#8a8f98",
        QPalette.ColorRole.Link: "#5fb3ff",
    }
    for role, c in colors.items():
        pal.setColor(role, QColor(c))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#777a80"))
    app.setPalette(pal)


def install_excepthook(window) -> None:  # noqa: ANN001
    """An exception escaping a Qt slot is shown in a dialog (with details) instead of only on stderr."""
    import traceback

    previous = sys.excepthook

    def hook(etype, value, tb):  # noqa: ANN001
        previous(etype, value, tb)
        try:
            window.show_error("Unexpected error (the app keeps running)", f"{etype.__name__}: {value}",
                              "".join(traceback.format_exception(etype, value, tb)))
        except Exception:
            pass
    sys.excepthook = hook


def main(argv: list[str] | None = None) -> int:
    """Start the app and run its event loop; returns the exit status."""
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv))
    app.setApplicationName("AGX Desktop")
    app.setOrganizationName("AGX")
    apply_style(app)
    from PySide6.QtGui import QPixmap
    from PySide6.QtWidgets import QSplashScreen
    from .paths import resources_dir
    icon = resources_dir() / "icons" / "agx.png"
    splash = None
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
        splash = QSplashScreen(QPixmap(str(icon)))
        splash.showMessage("Loading AGX Desktop…", Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter)
        splash.show()
        app.processEvents()
    from .main_window import MainWindow  # imports torch + audiocraft: a few seconds

    window = MainWindow()
    window.resize(1440, 900)
    window.show()
    previous_hook = sys.excepthook
    install_excepthook(window)
    if splash is not None:
        splash.finish(window)
    if os.environ.get("AGX_DESKTOP_SMOKE"):  # `AGX_DESKTOP_SMOKE=1 agx-desktop` opens and quits (CI)
        from PySide6.QtCore import QTimer
        QTimer.singleShot(int(os.environ.get("AGX_DESKTOP_SMOKE_MS", "1500")), window.close)
    try:
        return int(app.exec())
    finally:
        sys.excepthook = previous_hook


if __name__ == "__main__":
    sys.exit(main())
