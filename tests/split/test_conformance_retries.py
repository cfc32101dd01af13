"""tests/integration/test_retries.py, unchanged, against a split deployment (see conftest.py)."""

from reuse import reuse

reuse("test_retries", globals())
