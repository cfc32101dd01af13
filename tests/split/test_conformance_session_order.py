"""tests/integration/test_session_order.py, unchanged, against a split deployment.

See tests/split/conftest.py for the deployment behind the `system` fixture.
"""

from reuse import reuse

reuse("test_session_order", globals())
