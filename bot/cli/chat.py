"""``chat``: a terminal WeChat user for a running bot (placeholder until the simulator lands)."""
