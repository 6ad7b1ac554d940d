#!/usr/bin/env node
// Validate many packed teams with the real Showdown TeamValidator in one Node process
// (the `pokemon-showdown validate-team` CLI costs a Node start-up per team).
//
// Usage: node validate_teams.js [SHOWDOWN_PACKAGE_DIR] < {"format": "gen1ou", "teams": [{"id", "packed"}]}
// Prints {"results": [{"id", "valid", "problems": [...]}]} on stdout, in input order.
// Exit codes: 0 = results printed (valid or not), 2 = bad request (unknown format, bad JSON).
'use strict';

const fs = require('fs');
const path = require('path');

const DEFAULT_SHOWDOWN_DIR = path.resolve(__dirname, '../../envs/showdown/node_modules/pokemon-showdown');

function fail(message) {
	process.stderr.write(message + '\n');
	process.exit(2);
}

function loadShowdown(showdownDir) {
	const dist = path.join(showdownDir, 'dist', 'sim');
	return {
		Teams: require(path.join(dist, 'teams.js')).Teams,
		TeamValidator: require(path.join(dist, 'team-validator.js')).TeamValidator,
		Dex: require(path.join(dist, 'dex.js')).Dex,
	};
}

// Same steps as the CLI's validate-team: import the team, then validateTeam; null means valid.
function validateOne(validator, Teams, packed) {
	let team;
	try {
		team = Teams.import(packed);
	} catch (err) {
		return [`could not read the packed team: ${err.message}`];
	}
	if (!team || !team.length) return ['could not read the packed team: it has no Pokémon'];
	try {
		return validator.validateTeam(team) || [];
	} catch (err) {
		return [`validator crashed: ${err.message}`];
	}
}

function main() {
	const { Teams, TeamValidator, Dex } = loadShowdown(process.argv[2] || DEFAULT_SHOWDOWN_DIR);
	let request;
	try {
		request = JSON.parse(fs.readFileSync(0, 'utf8'));
	} catch (err) {
		fail(`stdin is not JSON: ${err.message}`);
	}
	if (!request || typeof request.format !== 'string' || !Array.isArray(request.teams)) {
		fail('expected {"format": string, "teams": [{"id": string, "packed": string}]} on stdin');
	}
	const format = Dex.formats.get(request.format);
	if (!format.exists || format.effectType !== 'Format') fail(`unknown battle format '${request.format}'`);

	const validator = TeamValidator.get(format.id);
	const results = request.teams.map(({ id, packed }) => {
		const problems = validateOne(validator, Teams, packed);
		return { id, valid: problems.length === 0, problems };
	});
	process.stdout.write(JSON.stringify({ results }) + '\n');
}

main();
