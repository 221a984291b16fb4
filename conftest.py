"""The test environment (private Redis, var dir, fast polling) is set up in tests/settings.py:
pytest-django reads the settings module before this file runs."""
