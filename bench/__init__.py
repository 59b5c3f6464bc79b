"""Benchmark: this integration inside Home Assistant against Home Assistant's smtp and Apprise.

Run it with ``scripts/bench``. It is not part of the test suite. The modules:

* ``run`` starts the receivers once (the emulator, the SMTP server), runs the
  drivers against them, one after the other, checks the targets and writes
  the results table, JSON, chart and the README's Benchmarks section;
* ``ha_driver`` runs a real Home Assistant instance with the ``o365`` config
  entry and Home Assistant's ``smtp`` notify platform, and sends through
  ``notify.o365`` and the smtp action (the Home Assistant venv);
* ``apprise_driver`` sends the same alerts with Apprise, as shipped and with
  its pacing off (its own venv);
* ``emulator_probe`` runs the emulator with each request body's arrival logged;
* ``smtp_server`` is the SMTP server (aiosmtpd, STARTTLS; bench venv) and
  ``tls`` makes its CA and certificate for each run;
* ``smtp_requirements`` lists what the smtp integration needs installed;
* ``profiling`` summarises cProfile and tracemalloc over a burst of ours;
* ``report`` writes ``results.md`` and the README section from the numbers;
* ``make_data`` generates the JPEG and the 100 MB file once;
* ``chart`` draws the PNG (bench venv, matplotlib);
* ``common`` and ``loopwatch`` are stdlib-only helpers shared by the drivers.
"""
