"""What the tests share and are not tests: the attack matrix, the local stand-ins for MiniStack
and the OpenID provider, Lambda events, concurrent key writers (also used by the benchmarks)."""
