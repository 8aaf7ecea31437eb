"""The app's views: they show state and emit requests; the main window wires them to jobs."""
