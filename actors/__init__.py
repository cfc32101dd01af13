"""Pykka actors and the wiring that starts and stops them."""

import logging

from .config import Config, Endpoints
from .system import VendingSystem

__all__ = ["Config", "Endpoints", "VendingSystem"]

# A library leaves its log lines to the program: the CLI configures them
# (cli/logsetup.py), an embedding program as it likes.
logging.getLogger(__name__).addHandler(logging.NullHandler())
