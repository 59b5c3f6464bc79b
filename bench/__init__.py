"""Benchmark: this integration inside Home Assistant against Apprise's Office 365 plugin.

Run it with ``scripts/bench``. It is not part of the test suite. The modules:

* ``run`` starts the emulator once, runs both drivers against it, one after the
  other, and writes the results table, JSON and chart;
* ``ha_driver`` runs a real Home Assistant instance with the ``o365`` config
  entry and sends through ``notify.o365`` (project venv);
* ``apprise_driver`` sends the same alerts with Apprise (its own venv);
* ``make_data`` generates the JPEG and the 100 MB file once;
* ``chart`` draws the PNG (bench venv, matplotlib);
* ``common`` and ``loopwatch`` are stdlib-only helpers shared by the drivers.
"""
