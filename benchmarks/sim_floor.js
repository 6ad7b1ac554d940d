#!/usr/bin/env node
// The Showdown simulator's own speed, with nothing around it: the floor any battle backend is measured against.
//
// Plays the given battles in ONE Node process through BattleStream + getPlayerStreams, both sides driven by
// the simulator's own RandomPlayerAI, `concurrency` battles in flight at once. RandomPlayerAI's chance to
// move rather than switch is set per request to moves / (moves + switches), so it is uniform over the legal
// choices like poke-env's random player and the pair matches the server run's random-vs-random pair.
//
// Usage: node sim_floor.js SHOWDOWN_PACKAGE_DIR < {"format": "gen1ou", "concurrency": 16,
//          "battles": [{"p1": "<packed team>", "p2": "<packed team>", "seed": 123}, ...]}
// Prints {"battles", "turns", "seconds", "cpu_seconds", "results": {"p1", "p2", "tie"}, "max_turns"} on stdout.
// `turns` sums each battle's last turn number; `seconds` is wall time from the first start to the last end
// (module loading excluded); `cpu_seconds` is this process's user + system CPU over the same span.
// Exit codes: 0 = all battles finished, 1 = a battle failed, 2 = bad request.
'use strict';

const fs = require('fs');
const path = require('path');

function fail(message) {
	process.stderr.write(message + '\n');
	process.exit(2);
}

function loadSimulator(showdownDir) {
	const sim = path.resolve(showdownDir, 'dist', 'sim');
	const { RandomPlayerAI } = require(path.join(sim, 'tools', 'random-player-ai.js'));
	return {
		...require(path.join(sim, 'battle-stream.js')),
		RandomPlayerAI,
		Dex: require(path.join(sim, 'dex.js')).Dex,
	};
}

function readRequest(Dex) {
	let request;
	try {
		request = JSON.parse(fs.readFileSync(0, 'utf8'));
	} catch (err) {
		fail(`stdin is not JSON: ${err.message}`);
	}
	const battlesOk = request && Array.isArray(request.battles) && request.battles.every(
		b => b && typeof b.p1 === 'string' && typeof b.p2 === 'string' && Number.isInteger(b.seed));
	if (!battlesOk || typeof request.format !== 'string' || !(Number.isInteger(request.concurrency) && request.concurrency >= 1)) {
		fail('expected {"format": string, "concurrency": int >= 1, "battles": [{"p1": packed, "p2": packed, "seed": int}]}');
	}
	const format = Dex.formats.get(request.format);
	if (!format.exists || format.effectType !== 'Format') fail(`unknown battle format '${request.format}'`);
	return request;
}

const { seedWords } = require(path.join(__dirname, '..', 'pokepsro', 'battles', 'js', 'seed.js'));

function uniformRandomPlayer(RandomPlayerAI) {
	return class UniformRandomPlayer extends RandomPlayerAI {
		receiveRequest(request) {
			const active = request.active && request.active[0];
			if (active && !request.forceSwitch) {
				const moves = active.moves.filter(m => !m.disabled).length;
				const switches = active.trapped ? 0 :
					request.side.pokemon.filter(p => !p.active && !p.condition.endsWith(' fnt')).length;
				this.move = moves + switches ? moves / (moves + switches) : 1;
			}
			super.receiveRequest(request);
		}
	};
}

// One battle to its end; resolves to {turns, winner} read from the omniscient log.
async function playBattle(sim, Player, format, battle, index) {
	const streams = sim.getPlayerStreams(new sim.BattleStream());
	const [seedP1, seedP2, seedBattle] = [1, 2, 3].map(k => seedWords(battle.seed * 3 + k));
	void new Player(streams.p1, { seed: seedP1 }).start();
	void new Player(streams.p2, { seed: seedP2 }).start();
	void streams.omniscient.write([
		`>start ${JSON.stringify({ formatid: format, seed: seedBattle })}`,
		`>player p1 ${JSON.stringify({ name: 'Floor 1', team: battle.p1 })}`,
		`>player p2 ${JSON.stringify({ name: 'Floor 2', team: battle.p2 })}`,
	].join('\n'));
	let turns = 0;
	let winner = null;
	for await (const chunk of streams.omniscient) {
		for (const line of chunk.split('\n')) {
			if (line.startsWith('|turn|')) turns = Number(line.slice(6));
			else if (line.startsWith('|win|')) winner = line.slice(5) === 'Floor 1' ? 'p1' : 'p2';
			else if (line === '|tie') winner = 'tie';
		}
	}
	if (!winner) throw new Error(`battle ${index} ended without a result`);
	return { turns, winner };
}

async function playAll(sim, request) {
	const Player = uniformRandomPlayer(sim.RandomPlayerAI);
	const outcomes = new Array(request.battles.length);
	let next = 0;
	async function lane() {
		while (next < request.battles.length) {
			const index = next++;
			outcomes[index] = await playBattle(sim, Player, request.format, request.battles[index], index);
		}
	}
	await Promise.all(Array.from({ length: Math.min(request.concurrency, request.battles.length) }, lane));
	return outcomes;
}

async function main() {
	const sim = loadSimulator(process.argv[2] || fail('usage: node sim_floor.js SHOWDOWN_PACKAGE_DIR < request.json'));
	const request = readRequest(sim.Dex);
	const cpuBefore = process.cpuUsage();
	const started = process.hrtime.bigint();
	const outcomes = await playAll(sim, request);
	const seconds = Number(process.hrtime.bigint() - started) / 1e9;
	const cpu = process.cpuUsage(cpuBefore);
	const results = { p1: 0, p2: 0, tie: 0 };
	for (const { winner } of outcomes) results[winner]++;
	process.stdout.write(JSON.stringify({
		battles: outcomes.length,
		turns: outcomes.reduce((sum, o) => sum + o.turns, 0),
		max_turns: Math.max(0, ...outcomes.map(o => o.turns)),
		seconds,
		cpu_seconds: (cpu.user + cpu.system) / 1e6,
		results,
	}) + '\n');
}

main().catch(err => {
	process.stderr.write(`${err.stack || err}\n`);
	process.exit(1);
});
