"""Entry point: ``agx-desktop`` (console script), ``python main.py`` or ``python -m agx_desktop.ui.app``."""
from __future__ import annotations

import os
import sys
import typing as tp
import warnings

if tp.TYPE_CHECKING:
    from PySide6.QtCore import QRect


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


#: the xcb platform plugin's system libraries (Qt >= 6.5) and the packages that hold them
XCB_LIBS: tuple[tuple[str, str, str], ...] = (
    # (soname stem for ctypes.util.find_library, Debian/Ubuntu package, Fedora package)
    ("xcb-cursor", "libxcb-cursor0", "xcb-util-cursor"),
    ("xcb-icccm", "libxcb-icccm4", "xcb-util-wm"),
    ("xcb-keysyms", "libxcb-keysyms1", "xcb-util-keysyms"),
    ("xcb-image", "libxcb-image0", "xcb-util-image"),
    ("xcb-render-util", "libxcb-render-util0", "xcb-util-renderutil"),
    ("xkbcommon-x11", "libxkbcommon-x11-0", "libxkbcommon-x11"),
)


def missing_xcb_packages(find: tp.Callable[[str], str | None] | None = None,
                         platform: str | None = None, env: tp.Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(apt package, Fedora package) of each xcb library Qt's Linux plugin needs and the system lacks;
    empty off Linux or when another platform plugin (wayland, offscreen) was chosen."""
    import ctypes.util
    env = os.environ if env is None else env
    if (platform or sys.platform) != "linux" or env.get("QT_QPA_PLATFORM", "xcb").split(":")[0] not in ("", "xcb"):
        return []
    find = find or ctypes.util.find_library
    return [(deb, fedora) for lib, deb, fedora in XCB_LIBS if not find(lib)]


def xcb_message(missing: tp.Sequence[tuple[str, str]]) -> str:
    debs, rpms = " ".join(d for d, _ in missing), " ".join(r for _, r in missing)
    return (f"AGX Desktop needs system libraries for Qt's X11 plugin: sudo apt install {debs} "
            f"(Fedora: sudo dnf install {rpms})")


def place_window(window: tp.Any) -> None:
    """Fit the window to the screen it opens on (the restored geometry only if it fits)."""
    screen = window.screen() or window.windowHandle() and window.windowHandle().screen()
    if screen is None:
        return
    available = screen.availableGeometry()
    saved = window.geometry() if window.settings.geometry else None
    rect = initial_geometry(available, saved)
    window.resize(rect.size())
    window.move(rect.topLeft())


def initial_geometry(available: QRect, saved: QRect | None) -> QRect:
    """Where the window opens: the saved geometry when it fits the screen's available area, else
    at most 1440x900, centred in it."""
    from PySide6.QtCore import QRect as _QRect
    if saved is not None and saved.isValid() and available.contains(saved):
        return _QRect(saved)
    # the frame (title bar, borders) is outside geometry(): leave room for it
    w, h = min(1440, available.width() - 16), min(900, available.height() - 40)
    rect = _QRect(0, 0, w, h)
    rect.moveCenter(available.center())
    return rect


def main(argv: list[str] | None = None) -> int:
    """Start the app and run its event loop; returns the exit status."""
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    from agx_desktop.engine.machine import use_huge_pages
    use_huge_pages()  # before torch is first imported (the models load in a worker thread)
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    missing = [] if QApplication.instance() else missing_xcb_packages()
    if missing:  # Qt would abort with a page about plugins; say which packages to install, in one line
        print(xcb_message(missing), file=sys.stderr)
        return 2
    owns_app = QApplication.instance() is None  # started here (not inside a test's application)
    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv))
    app.setApplicationName("AGX Desktop")
    app.setOrganizationName("AGX")
    apply_style(app)
    from .paths import resources_dir
    icon = resources_dir() / "icons" / "agx.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    # no torch on this path (tests/ui/test_app.py checks it): the window opens in 2-3 s
    # (benchmarks/results/startup.md); the first jobs (autosaved takes, then the model) import torch
    # and load behind it
    from .main_window import MainWindow

    window = MainWindow()
    window.ends_process = owns_app  # the process ends with the window (quit_now): a load need not be awaited
    place_window(window)
    window.show()
    window.generation.prompt_edit.setFocus()  # type at once; Enter generates
    previous_hook = sys.excepthook
    install_excepthook(window)
    if os.environ.get("AGX_DESKTOP_SMOKE"):  # `AGX_DESKTOP_SMOKE=1 agx-desktop` opens and quits (CI)
        from PySide6.QtCore import QTimer
        QTimer.singleShot(int(os.environ.get("AGX_DESKTOP_SMOKE_MS", "1500")), window.close)
    try:
        status = int(app.exec())
    finally:
        sys.excepthook = previous_hook
    if owns_app:
        quit_now(status)
    return status


def quit_now(status: int) -> tp.NoReturn:
    """End the process as soon as the window has closed. By then the jobs are stopped, the takes and
    the settings written (closeEvent); what is left is the interpreter's teardown of Qt, pyqtgraph and
    torch objects, which took 3-7 s (measured under Xvfb) with the window already gone."""
    import logging
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
