"""tests/integration/test_session_order.py, unchanged, against a split deployment (see conftest.py)."""

from reuse import reuse

reuse("test_session_order", globals())
