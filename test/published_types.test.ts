/**
 * The published declarations (dist/src/*.d.ts, built with stripInternal) type-check in a user's
 * project with tsc's defaults, skipLibCheck off: a class in them must not claim an interface
 * whose members were stripped.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../../', import.meta.url));

test("a strict user project that imports the package's types compiles with skipLibCheck off", () => {
  const dir = mkdtempSync(join(tmpdir(), 'perfemu-types-'));
  try {
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(root, 'node_modules', '@types')],
        },
        files: ['use.ts'],
      }),
    );
    writeFileSync(
      join(dir, 'use.ts'),
      [
        `import { Kernel, PerfBuffer, CpuPool, lab } from ${JSON.stringify(join(root, 'dist', 'src', 'index.js'))};`,
        "const k = Kernel.create({ cpus: 2, version: '6.18' });",
        "const app = k.process('app');",
        "const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 2 });",
        'const pb: PerfBuffer = PerfBuffer.open(app, m, { onSample: (cpu: number, data: Uint8Array) => void [cpu, data] });',
        'void [pb, CpuPool, lab];',
      ].join('\n'),
    );
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8', timeout: 120_000 });
    assert.is(r.status, 0, `${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
