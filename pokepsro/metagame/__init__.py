"""The meta-game built from battles: the population, who beats whom, its Nash mixture σ, and play against σ.

Owns: `population` (policies and the Players that play them), `tournament` (a round robin into a matrix),
`matrix` (the interaction matrix), `solver` (Nash mixtures, exploitability, meta-strategy files), `ratings`
(Bradley–Terry ratings and GXE of the members), `mixture` (a policy drawn per battle from σ), `evaluation` (one
policy against another, against a mixture, against σ), `play` (a policy or Nash mixture on a Showdown server).
May import: `pokepsro.learning` (a member may be a neural checkpoint), `pokepsro.battles`, `pokepsro.gen1`,
`pokepsro.core`.
"""
