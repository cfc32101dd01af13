"""tests/integration/test_concurrency.py, unchanged, against a split deployment.

See tests/split/conftest.py for the deployment behind the `system` fixture.
"""

from reuse import reuse

reuse("test_concurrency", globals())
