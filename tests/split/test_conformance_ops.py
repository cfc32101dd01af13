"""tests/integration/test_ops.py, unchanged, against a split deployment (see conftest.py)."""

from reuse import reuse

reuse("test_ops", globals())
