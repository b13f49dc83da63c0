/** The README's scripted scenario runs as pasted and prints what the README says it prints. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('the README pinned-map scenario prints the output the README shows', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```(\w*)\n([\s\S]*?)```/g)];
  const at = blocks.findIndex((b) => b[1] === 'js' && b[2]!.includes("from './dist/src/index.js'"));
  assert.ok(at >= 0, 'the scenario block is in the README');
  const code = blocks[at]![2]!.replace("'./dist/src/index.js'", JSON.stringify(join(root, 'dist/src/index.js')));
  const expected = blocks[at + 1]![2]!.trim();
  const dir = mkdtempSync(join(tmpdir(), 'perfemu-readme-'));
  try {
    writeFileSync(join(dir, 'story.mjs'), code);
    const r = spawnSync(process.execPath, [join(dir, 'story.mjs')], { encoding: 'utf8', timeout: 30_000 });
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout.trim(), expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
