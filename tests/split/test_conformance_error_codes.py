"""tests/integration/test_error_codes.py, unchanged, against a split deployment.

See tests/split/conftest.py for the deployment behind the `system` fixture.
"""

from reuse import reuse

reuse("test_error_codes", globals())
