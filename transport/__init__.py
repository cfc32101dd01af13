"""msgpack over ZeroMQ: the codec, the fifos, the front door and the client.

Knows the vending rules' request format but nothing of actors.
"""

import logging

from .client import DEFAULT_ENDPOINT, Client, NoReply, Product
from .codec import DecodeError, decode, encode

__all__ = ["DEFAULT_ENDPOINT", "Client", "DecodeError", "NoReply", "Product", "decode", "encode"]

# A library leaves its log lines to the program: the CLI configures them
# (cli/logsetup.py), an embedding program as it likes.
logging.getLogger(__name__).addHandler(logging.NullHandler())
