"""Learned policies: how a battle becomes a vector, the network, the neural player, recorded trajectories,
training, and the best-response oracles that train a policy against a mixture of opponent Players.

Owns: `features`, `model`, `neural`, `recording`, `trajectories`, `trainer`, `oracle/`.
May import: `pokepsro.battles`, `pokepsro.gen1`, `pokepsro.core` (never the meta-game: an oracle is handed its
opponents as player factories and their weights σ).
"""
