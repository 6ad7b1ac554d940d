"""Playing battles: scheduled battles in, one record per battle out, on either backend.

Owns: `api` (`run_battles`, the backend-neutral entry point), `spec` (the battle spec, the run settings and the
record every backend shares), `schedule` (who plays whom, on which teams and seats), `records` (summaries of
records: win rates with Wilson intervals), `direct` (the simulator process backend), `worker_pool` +
`battle_worker` (the direct backend over worker processes), `server` (the websocket backend through a local
Showdown server), `showdown` (that server), `js/` (the simulator's battle host).
May import: `pokepsro.gen1`, `pokepsro.core`.
"""
