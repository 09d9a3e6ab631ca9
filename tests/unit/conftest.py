"""Unit-test settings. Hypothesis's per-example deadline (200 ms by default) is a timing assertion: on a
loaded 2-core machine (CI beside the emulators) an example can take longer and fail with nothing wrong.
Property tests check behaviour; performance is measured by `make bench-*`, never by a unit test."""

from hypothesis import settings

settings.register_profile("ledgerline", deadline=None)
settings.load_profile("ledgerline")
