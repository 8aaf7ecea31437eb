"""The window's panels, each a widget of its own that watches the :class:`~agx_desktop.ui.session.Session`
(and asks the :class:`~agx_desktop.ui.controller.Controller` for work); no panel reaches into another."""
