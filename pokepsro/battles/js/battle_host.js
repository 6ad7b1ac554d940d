#!/usr/bin/env node
// Battle host for pokepsro's direct backend: many battles at once in ONE Node process through the simulator's
// BattleStream, with no server, chat layer or websocket in between.
//
// Usage: node battle_host.js SHOWDOWN_PACKAGE_DIR   (then JSON lines on stdin, JSON lines on stdout)
//
// In (one JSON object per line):
//   {"start": TAG, "format": "gen1ou", "seed": INT, "p1": {"name", "team": packed}, "p2": {...}}
//   {"choose": TAG, "side": "p1", "choice": "move 1"}     a player's choice, as in `>p1 move 1`
//   {"forfeit": TAG, "side": "p1"}                        that side loses (the server's `>forcelose p1`)
//   {"drop": TAG}                                         forget a battle without ending it
// Out (one JSON array per line):
//   ["", "ready", VERSION]          once, when the simulator is loaded
//   [TAG, "p1", TEXT]               what the server would send that side: its view of the battle log
//                                   (`|split|` lines resolved as for that side) plus its `|request|`/`|error|`
//                                   lines, in the simulator's order; the first one starts with `|init|battle`
//   [TAG, "end", WINNER]            the battle ended (the winner's name, "" for a tie)
//   [TAG, "refused", PROBLEMS]      a team failed the format's validator (the server refuses such a challenge)
//   [TAG, "crashed", MESSAGE]       the simulator threw inside this battle
// Each side's text is buffered and flushed once per event-loop turn, so a turn's update and the request that
// follows it reach Python as one message. The host exits when stdin closes (its owner is gone).
'use strict';

const path = require('path');
const readline = require('readline');

const SIDES = ['p1', 'p2'];

function loadSimulator(showdownDir) {
	const sim = path.resolve(showdownDir, 'dist', 'sim');
	return {
		BattleStream: require(path.join(sim, 'battle-stream.js')).BattleStream,
		extractChannelMessages: require(path.join(sim, 'battle.js')).extractChannelMessages,
		Teams: require(path.join(sim, 'teams.js')).Teams,
		TeamValidator: require(path.join(sim, 'team-validator.js')).TeamValidator,
		version: require(path.resolve(showdownDir, 'package.json')).version,
	};
}

const { seedWords } = require('./seed.js');

class Host {
	constructor(sim) {
		this.sim = sim;
		this.battles = new Map();       // tag -> {stream, buffers: {p1: [], p2: []}}
		this.validity = new Map();      // `${format}\n${packed}` -> problems ([] when valid)
		this.outbox = [];
		this.flushScheduled = false;
	}

	emit(tag, kind, payload) {
		this.outbox.push(JSON.stringify([tag, kind, payload]));
		this.scheduleFlush();
	}

	scheduleFlush() {
		if (this.flushScheduled) return;
		this.flushScheduled = true;
		setImmediate(() => this.flush());
	}

	flush() {
		this.flushScheduled = false;
		for (const [tag, battle] of this.battles) {
			for (const side of SIDES) {
				if (battle.buffers[side].length) {
					this.outbox.push(JSON.stringify([tag, side, battle.buffers[side].join('\n')]));
					battle.buffers[side] = [];
				}
			}
		}
		if (this.outbox.length) {
			process.stdout.write(this.outbox.join('\n') + '\n');
			this.outbox = [];
		}
	}

	problems(format, packed) {
		const key = `${format}\n${packed}`;
		if (!this.validity.has(key)) {
			let problems;
			try {
				const team = this.sim.Teams.import(packed);
				problems = team && team.length ? (this.sim.TeamValidator.get(format).validateTeam(team) || []) :
					['could not read the packed team'];
			} catch (err) {
				problems = [`could not validate the team: ${err.message}`];
			}
			this.validity.set(key, problems);
		}
		return this.validity.get(key);
	}

	start({ start: tag, format, seed, p1, p2 }) {
		if (this.battles.has(tag)) throw new Error(`battle ${tag} already exists`);
		const problems = [...this.problems(format, p1.team), ...this.problems(format, p2.team)];
		if (problems.length) {
			this.emit(tag, 'refused', problems);
			return;
		}
		const stream = new this.sim.BattleStream();
		const battle = { stream, buffers: { p1: ['|init|battle'], p2: ['|init|battle'] } };
		this.battles.set(tag, battle);
		void this.pump(tag, battle);
		void stream.write([
			`>start ${JSON.stringify({ formatid: format, seed: seedWords(seed) })}`,
			`>player p1 ${JSON.stringify({ name: p1.name, team: p1.team })}`,
			`>player p2 ${JSON.stringify({ name: p2.name, team: p2.team })}`,
		].join('\n'));
	}

	// Reads one battle's output chunks and sorts them into each side's buffer, as the server would.
	async pump(tag, battle) {
		let winner = null;
		try {
			for await (const chunk of battle.stream) {
				if (this.battles.get(tag) !== battle) return;  // dropped
				const newline = chunk.indexOf('\n');
				const type = chunk.slice(0, newline);
				const data = chunk.slice(newline + 1);
				if (type === 'update') {
					const channels = this.sim.extractChannelMessages(data, [1, 2]);
					battle.buffers.p1.push(...channels[1]);
					battle.buffers.p2.push(...channels[2]);
				} else if (type === 'sideupdate') {
					const sideBreak = data.indexOf('\n');
					battle.buffers[data.slice(0, sideBreak)].push(data.slice(sideBreak + 1));
				} else if (type === 'end') {
					winner = JSON.parse(data).winner || '';
				}
				this.scheduleFlush();
			}
		} catch (err) {
			if (this.battles.get(tag) === battle) {
				this.flush();
				this.battles.delete(tag);
				this.emit(tag, 'crashed', String(err && err.stack || err));
			}
			return;
		}
		if (this.battles.get(tag) !== battle) return;
		this.flush();  // the last lines (|win|) go out before the end notice
		this.battles.delete(tag);
		this.emit(tag, 'end', winner === null ? '' : winner);
	}

	write(tag, line) {
		const battle = this.battles.get(tag);
		if (battle) void battle.stream.write(line);  // a choice for a battle that already ended is dropped
	}

	handle(message) {
		if (message.start !== undefined) {
			this.start(message);
		} else if (message.choose !== undefined) {
			this.write(message.choose, `>${side(message.side)} ${String(message.choice).replace(/\n/g, ' ')}`);
		} else if (message.forfeit !== undefined) {
			this.write(message.forfeit, `>forcelose ${side(message.side)}`);
		} else if (message.drop !== undefined) {
			const battle = this.battles.get(message.drop);
			this.battles.delete(message.drop);
			if (battle) battle.stream.destroy();
		} else {
			throw new Error(`unknown command ${JSON.stringify(message)}`);
		}
	}
}

function side(name) {
	if (!SIDES.includes(name)) throw new Error(`side must be p1 or p2, got ${JSON.stringify(name)}`);
	return name;
}

function main() {
	const showdownDir = process.argv[2];
	if (!showdownDir) {
		process.stderr.write('usage: node battle_host.js SHOWDOWN_PACKAGE_DIR\n');
		process.exit(2);
	}
	const sim = loadSimulator(showdownDir);
	const host = new Host(sim);
	const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
	input.on('line', line => {
		if (line) host.handle(JSON.parse(line));  // a malformed command is a bug in the owner: crash loudly
	});
	input.on('close', () => {
		host.flush();
		process.exit(0);
	});
	host.emit('', 'ready', sim.version);
}

main();
