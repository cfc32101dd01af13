"""An asyncio buyer: python examples/python/aio_client.py [ENDPOINT]"""

import asyncio
import secrets
import sys

from transport.aio import AsyncClient


async def main(endpoint: str) -> None:
    async with AsyncClient(endpoint) as buyer:  # gives up after 4.2 s with no server
        await buyer.register(f"alice-{secrets.token_hex(4)}", "battery staple")
        print("deposit:", await buyer.deposit(20))
        print("deposit:", await buyer.deposit(50))
        print("change:", await buyer.reset())


asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:5555"))
