"""Where `vending serve`'s log lines go and how they look: the CLI's business.

The library (vending, actors, transport, tools) only names its loggers and
leaves a `NullHandler`: an embedding program configures logging its own way.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Attributes every `LogRecord` has: whatever else a record carries came from
#: `extra=` and goes into the JSON object as is.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601 with ms), level, logger,
    message, the extras given with `extra=`, and exc_info as text if any."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, Any] = {"ts": f"{stamp}.{int(record.msecs):03d}Z",
                                "level": record.levelname, "logger": record.name,
                                "message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        # default=str: an extra that JSON cannot hold still leaves a line.
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str, fmt: str = "text", *, text: str = _TEXT) -> None:
    """Send log lines of `level` and up to stderr as `fmt` ("text", laid out as
    `text`, or "json"). Called once, by the command, in the main thread."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(text))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
