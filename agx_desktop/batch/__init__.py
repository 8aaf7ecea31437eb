"""Batch: a prompt sheet (CSV/TSV) -> takes, explanations and UCS-named exports in one folder.

* :mod:`.sheet` reads the sheet (one line per bad row: its number and what to fix);
* :mod:`.plan` turns good rows into work items with stable ids and seeds;
* :mod:`.work` is what a worker runs for one item (generate, explain, render the export);
* :mod:`.backends` runs items in this process, a local process pool or on Ray, behind one interface;
* :mod:`.runner` is the resumable driver: it alone writes results (atomic per take) and ``manifest.csv``;
* :mod:`.cli` is ``agx batch SHEET --out DIR``.

Sits on the engine (never imported by it); ``agx evaluate`` may run its protocol through :mod:`.backends`.
"""
