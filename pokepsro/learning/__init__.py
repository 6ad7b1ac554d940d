"""Learned policies: a battle as a vector, the network, the neural player, recorded trajectories, training, and
the best-response oracles that train a policy against opponent Players drawn from a mixture σ.

Owns: `features`, `model` (network, configs, checkpoints and their layout), `neural` (the neural poke-env
Player), `recording` (trajectories of a Player's decisions), `trajectories` (shards and the training dataset),
`trainer` (offline actor-critic training), `oracle/` (best responses: PPO online, or offline).
May import: `pokepsro.battles`, `pokepsro.gen1`, `pokepsro.core`. Never the meta-game: an oracle is handed its
opponents as player factories and their weights σ.
"""
