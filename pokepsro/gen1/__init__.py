"""The game: Gen 1 OU rules and damage maths, the heuristic baseline players, teams, and the simulator install.

Owns: `mechanics` (type chart, stats, expected damage), `baselines` (heuristic poke-env Players), `teams` (team
sets, checked by Showdown's validator in `js/validate_teams.js`), `teamgen` (the generated `variety` team set),
`simulator` (where the Pokémon Showdown simulator and Node are installed).
May import: `pokepsro.core`.
"""
