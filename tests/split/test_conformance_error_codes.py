"""tests/integration/test_error_codes.py, unchanged, against a split deployment (see conftest.py)."""

from reuse import reuse

reuse("test_error_codes", globals())
