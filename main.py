"""Launch AGX Desktop: ``python main.py`` (or ``make run``, or the ``agx-desktop`` command)."""
import sys

from agx_desktop.ui.app import main

if __name__ == "__main__":
    sys.exit(main())
