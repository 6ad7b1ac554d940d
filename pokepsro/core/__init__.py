"""The foundation every other package stands on: user-facing errors, atomic file output and file readers, seeds.

Owns: `errors` (the exceptions the CLI and jobs turn into one line), `files` (atomic writes, JSON/JSONL/YAML
readers, publishing a finished folder), `seeding` (seeds derived from names, per-battle RNGs).
May import: nothing from pokepsro.
"""
