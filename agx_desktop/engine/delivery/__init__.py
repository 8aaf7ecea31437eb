"""Delivery: a take as a WAV a sound library accepts — loudness a meter confirms, BWF/iXML metadata.

:mod:`.loudness` (BS.1770 loudness, true peak, look-ahead limiter), :mod:`.bwf` (bext/iXML chunks),
:mod:`.export` (the one export the app's dialog, drag-out and ``agx export`` call), :mod:`.cli`
(``agx export``). No Qt.
"""
