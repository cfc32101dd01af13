"""Tools that exercise a running system: load (bench and its baseline), crashes
(chaos), simulated users (simulate), hostile frames (fuzz), and launching
`vending serve` processes for them. None of it is needed to run the product.
"""
