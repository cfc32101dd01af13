"""The `vending` command line: `serve` runs the system, the rest are its client."""
