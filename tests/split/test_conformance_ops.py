"""tests/integration/test_ops.py, unchanged, against a split deployment.

See tests/split/conftest.py for the deployment behind the `system` fixture.
"""

from reuse import reuse

reuse("test_ops", globals())
