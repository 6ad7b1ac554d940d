"""Playing battles: scheduled battles in, exactly one record per battle out, on either backend.

Owns: `api` (`run_battles`, the one entry point: checks, resume, backend choice), `spec` (the battle spec and
schedules: who plays whom, on which teams and seats), `backend` (the run settings and the record every backend
shares), `records` (what records add up to: win rates with Wilson intervals), `direct` (the simulator process
backend, `js/battle_host.js`), `worker_pool` + `battle_worker` (the direct backend over worker processes),
`server` (the websocket backend through a local Showdown server), `showdown` (that server).
May import: `pokepsro.gen1`, `pokepsro.core`.
"""
