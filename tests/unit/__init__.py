"""Unit tests: no local stack, no network, no browser; the tier runs in under a minute."""
