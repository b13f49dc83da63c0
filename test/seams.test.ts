/**
 * The architecture's seams, checked on the sources: no import cycles, and the kernel
 * (src/kernel/) depends on nothing that tests, explores, consumes or drives it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAULTS } from '../src/kernel/faults.js';
import { INVARIANTS, INVARIANT_OF, VIOLATION_KINDS } from '../src/invariants/registry.js';
import { ROOT, cycles, importGraph } from './fixtures/imports.js';

test('src/ has no import cycles (type-only imports included)', () => {
  const found = cycles(importGraph('src'));
  assert.equal(
    found.map((c) => c.join(' -> ')),
    [],
  );
});

/** who may turn a table base and an index into an arena address (the app control block is not the arena) */
const ADDRESSERS = new Set(['src/arena/layout.ts', 'src/arena/records.ts', 'src/arena/arena.ts']);
/** the output hot path keeps its ring sums inline (ring_buffer.ts says why) */
const RING_ADDRESSERS = new Set([...ADDRESSERS, 'src/kernel/ring_buffer.ts']);

test('no file outside the record accessors computes an arena record address', () => {
  const offenders: string[] = [];
  for (const file of importGraph('src').keys()) {
    if (ADDRESSERS.has(file)) continue;
    readFileSync(join(ROOT, file), 'utf8')
      .split('\n')
      .forEach((line, n) => {
        if (/^\s*(\/\/|\*)/.test(line)) return;
        const record = /\b\w+Base\s*\+|\*\s*(?!APP_)[A-Z_]+_STRIDE\b/.test(line);
        const ring = !RING_ADDRESSERS.has(file) && /\+\s*RB_[A-Z_]+\b/.test(line);
        if (record || ring) offenders.push(`${file}:${n + 1}: ${line.trim()}`);
      });
  }
  assert.equal(offenders, []);
});

test('src/kernel/ imports nothing from the stress engine, explorer, invariants, consumer or CLI', () => {
  const forbidden = /^src\/(stress|explore|invariants|consumer|cli|report|process|demo|conform)\//;
  const offenders: string[] = [];
  for (const [file, deps] of importGraph('src/kernel', true)) {
    for (const d of deps) if (forbidden.test(d)) offenders.push(`${file} -> ${d}`);
  }
  assert.equal(offenders, []);
});

test('the invariant registry names every violation kind once, and every fault names a registered invariant', () => {
  for (const kind of VIOLATION_KINDS) assert.ok(INVARIANT_OF[kind], `${kind} belongs to an invariant`);
  const listed = INVARIANTS.flatMap((i) => i.kinds);
  assert.is(new Set(listed).size, listed.length, 'no kind in two invariants');
  const names = new Set(INVARIANTS.map((i) => i.name));
  for (const f of FAULTS) assert.ok(names.has(f.invariant as never), `fault ${f.name}: ${f.invariant} is registered`);
});

test.run();

test('one error model: every ERR_PERFEMU_* code is declared once, in src/arena/perfemu_error.ts; perfemu errors share one base class', async () => {
  const { readdirSync, readFileSync, statSync } = await import('node:fs');
  const { join } = await import('node:path');
  const root = new URL('../../src/', import.meta.url).pathname;
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('perfemu_error.ts') && /'ERR_PERFEMU_[A-Z_]+'/.test(readFileSync(p, 'utf8')))
        offenders.push(p.slice(root.length));
    }
  };
  walk(root);
  assert.equal(offenders, [], 'use ERR.X from src/arena/perfemu_error.ts');
  const lib = await import('../src/index.js');
  const kernel = lib.Kernel.create({ cpus: 1 });
  const p = kernel.process('app');
  let err: unknown;
  try {
    p.close(99);
  } catch (e) {
    err = e;
  }
  assert.ok(lib.isSystemCallError(err, 'EBADF'));
  assert.ok(err instanceof lib.PerfemuError, 'a SystemCallError is a PerfemuError');
  assert.ok(new lib.ArenaError('x', lib.ERR.INTERNAL) instanceof lib.PerfemuError);
  assert.ok(new lib.CorruptRingError('x', 0) instanceof lib.PerfemuError);
  assert.is(new lib.CorruptRingError('x', 0).code, 'ERR_PERFEMU_CORRUPT_RING');
});
