"""Host <-> chip spike adapters, laid out as Lava lays out its own processes
(``process.py``: what, ``models.py``: how), so that Lava's model discovery
finds the models next to the processes."""
