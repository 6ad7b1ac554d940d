"""The meta-game built from battles: the population, who beats whom, its Nash mixture, and play against it.

Owns: `population` (policies and the Players that play them), `tournament` (round robin into a matrix),
`matrix` (the interaction matrix), `solver` (Nash mixtures, exploitability, meta-strategy files), `mixture`
(a policy drawn per battle from σ), `evaluation` (one policy against another or against a mixture).
May import: `pokepsro.learning` (a population member may be a neural checkpoint), `pokepsro.battles`,
`pokepsro.gen1`, `pokepsro.core`.
"""
