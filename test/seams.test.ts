/**
 * The architecture's seams, checked on the sources: no import cycles, and the kernel
 * (src/kernel/) depends on nothing that tests, explores, consumes or drives it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cycles, importGraph } from './fixtures/imports.js';

test('src/ has no import cycles', () => {
  const found = cycles(importGraph('src'));
  assert.equal(found.map((c) => c.join(' -> ')), []);
});

test.run();
