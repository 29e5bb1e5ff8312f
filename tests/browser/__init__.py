"""Browser tests of the dashboard (marker ``browser``).

A package, like tests/integration, so its conftest.py is ``browser.conftest`` and does not
replace tests/conftest.py as the module ``conftest``.
"""
