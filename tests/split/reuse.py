"""Re-collect an integration test module here, where `system` is a split deployment.

Everything public in the module (its tests and its own fixtures) is copied into the
caller's namespace; pytest then resolves `system` from tests/split/conftest.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any


def reuse(suite: str, namespace: dict[str, Any]) -> None:
    path = Path(__file__).parents[1] / "integration" / f"{suite}.py"
    spec = importlib.util.spec_from_file_location(f"split_{suite}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    namespace.update({k: v for k, v in vars(module).items()
                      if not k.startswith("_") and k not in namespace})
