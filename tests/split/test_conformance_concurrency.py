"""tests/integration/test_concurrency.py, unchanged, against a split deployment (see conftest.py)."""

from reuse import reuse

reuse("test_concurrency", globals())
