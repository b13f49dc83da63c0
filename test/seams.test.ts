/**
 * The architecture's seams, checked on the sources: no import cycles, and the kernel
 * (src/kernel/) depends on nothing that tests, explores, consumes or drives it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cycles, importGraph } from './fixtures/imports.js';

test('src/ has no import cycles', () => {
  const found = cycles(importGraph('src'));
  assert.equal(found.map((c) => c.join(' -> ')), []);
});

/** who may turn a table base and an index into an arena address (the app control block is not the arena) */
const ADDRESSERS = new Set(['src/arena/layout.ts', 'src/arena/records.ts', 'src/arena/arena.ts']);

test('no file outside the record accessors computes an arena record address', () => {
  const offenders: string[] = [];
  for (const file of importGraph('src').keys()) {
    if (ADDRESSERS.has(file)) continue;
    readFileSync(join(ROOT, file), 'utf8').split('\n').forEach((line, n) => {
      if (/^\s*(\/\/|\*)/.test(line)) return;
      if (/\b\w+Base\s*\+|\*\s*(?!APP_)[A-Z_]+_STRIDE\b/.test(line)) offenders.push(`${file}:${n + 1}: ${line.trim()}`);
    });
  }
  assert.equal(offenders, []);
});

test.run();
