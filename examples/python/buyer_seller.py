"""The buyer-and-seller story against a running `vending serve`, with transport.Client.

    python examples/python/buyer_seller.py [ENDPOINT]      (default tcp://127.0.0.1:5555)

Works on an empty server and when run again: each run registers its own users (a
random suffix) and its own product. Every state-changing call carries a req_id and
is retried on a timeout or UNAVAILABLE with that same req_id, so nothing is applied
twice.
"""

from __future__ import annotations

import os
import secrets
import sys

from transport import DEFAULT_ENDPOINT, Client

PASSWORD = "correct horse battery"


def main(endpoint: str) -> None:
    run = secrets.token_hex(4)
    with Client(endpoint) as seller, Client(endpoint) as buyer:
        seller.register(f"sam-{run}", PASSWORD, role="seller")
        print(f"seller {seller.user_uid} registered")
        cola = seller.sell("cola", cost=35, amount=10)
        print(f"selling {cola['product_name']} at {cola['cost']} cents, "
              f"{cola['amount']} in stock")

        buyer.register(f"alice-{run}", PASSWORD)
        for coin in (100, 50):
            balance = buyer.deposit(coin)
        print(f"buyer {buyer.user_uid} deposited {balance} cents")
        bought = buyer.buy(cola["product_uid"], 2)
        change = " ".join(map(str, bought["change"]))
        print(f"bought {bought['amount']} x {bought['product_name']} for {bought['spent']} "
              f"cents, change {change}")
        print(f"stock left: {buyer.product(cola['product_uid'])['amount']}")

        restocked = seller.update_product(cola["product_uid"], amount=5)
        print(f"restocked: {restocked['amount']} in stock")
        buyer.logout()
        seller.logout()
        print("both logged out")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("VENDING_ENDPOINT",
                                                               DEFAULT_ENDPOINT))
