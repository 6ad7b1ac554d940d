'use strict';
// The simulator's seed for a battle, shared by the battle host and the simulator-floor benchmark so both play
// exactly the same battle for the same BattleSpec seed.

// Four 16-bit words from one integer (splitmix32-style mixing): the Gen5RNG seed format the simulator takes.
function seedWords(seed) {
	let state = seed >>> 0;
	const words = [];
	for (let i = 0; i < 4; i++) {
		state = (state + 0x9e3779b9) >>> 0;
		let z = state;
		z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
		z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
		words.push((z ^ (z >>> 16)) & 0xffff);
	}
	return words;
}

module.exports = { seedWords };
