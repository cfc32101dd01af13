"""Pykka actors and the wiring that starts and stops them."""

from .config import Config, Endpoints
from .system import VendingSystem

__all__ = ["Config", "Endpoints", "VendingSystem"]
