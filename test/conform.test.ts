/**
 * The conformance catalogue against the kernel this runs on: every row must agree with
 * perfemu at the nearest modelled version, and conform must leave nothing behind (fds, maps,
 * pins), also when a scenario fails half-way. Skipped, with the reason printed, where the host
 * cannot run it (not Linux, no privilege, no BPF, 1 CPU, koffi missing).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Kernel, conform, detect } from '../src/index.js';
import { bpffsAt, nearestVersion, probeHost, runOn } from '../src/conform/conform.js';
import { HostSys, hostMapIds, openFdCount } from '../src/conform/host.js';

const bin = fileURLToPath(new URL('../../bin/perfemu.js', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

const probe = probeHost();
const skip = typeof probe === 'string' ? probe : null;
if (skip) console.log(`conform: skipping the host catalogue: ${skip}`);
const t = skip ? test.skip : test;

/** a bpffs for the pin scenarios: /sys/fs/bpf, else a private mount (root), else none */
let bpffs: string | null = null;
let mounted: string | null = null;
if (!skip) {
  if (bpffsAt('/sys/fs/bpf')) bpffs = '/sys/fs/bpf';
  else {
    const dir = mkdtempSync(join(tmpdir(), 'perfemu-bpffs-'));
    if (spawnSync('mount', ['-t', 'bpf', 'bpf', dir]).status === 0 && bpffsAt(dir)) bpffs = mounted = dir;
    else {
      rmdirSync(dir);
      console.log('conform: no bpffs (/sys/fs/bpf is not one and mount -t bpf failed): pin scenarios skipped');
    }
  }
}
/** the private bpffs goes when the suite ends, or when the process exits early (a failed hook, a timeout) */
function unmountBpffs(): void {
  if (!mounted) return;
  const dir = mounted;
  mounted = null;
  if (spawnSync('umount', [dir]).status === 0) rmdirSync(dir);
  else console.log(`conform: could not unmount the private bpffs at ${dir}`);
}
test.after(unmountBpffs);
process.once('exit', unmountBpffs);

test('mmap of a map fd: ENOTSUPP from 5.5 (bpf_map_mmap), ENODEV before; of a prog fd: ENODEV', () => {
  for (const [version, code] of [
    ['6.18', 'ENOTSUPP'],
    ['5.10', 'ENOTSUPP'],
    ['4.8', 'ENODEV'],
  ] as const) {
    const k = Kernel.create({ cpus: 2, version });
    const p = k.process('p');
    const map = p.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 2 });
    assert.throws(
      () => p.mmap(map, 1),
      (e: { code: string; syscall: string }) => e.code === code && e.syscall === 'mmap',
    );
    const prog = p.bpf.progLoad({ maps: [map] });
    assert.throws(
      () => p.mmap(prog, 1),
      (e: { code: string }) => e.code === 'ENODEV',
    );
    p.exit();
  }
});

test('nearestVersion: the newest modelled version not above the release', () => {
  assert.is(nearestVersion('6.18.44-fc'), '6.18');
  assert.is(nearestVersion('6.1.0'), '5.10');
  assert.is(nearestVersion('5.15.0-91-generic'), '5.10');
  assert.is(nearestVersion('4.9.0'), '4.8');
  assert.is(nearestVersion('3.10.0'), '4.7');
});

t('the catalogue agrees with the host kernel, and leaves no fd, map or pin behind', async () => {
  const n = typeof probe === 'string' ? null : probe.native;
  const fds = openFdCount();
  const r = await conform({ bpffs });
  const diffs = r.rows
    .filter((x) => x.status === 'differ')
    .map((x) => `${x.scenario}: ${x.difference!.label}: host ${x.difference!.host}, perfemu ${x.difference!.perfemu}`);
  assert.equal(diffs, [], diffs.join('\n'));
  assert.ok(r.scenarios >= 40, `${r.scenarios} scenarios`);
  assert.is(r.agree + r.skipped, r.scenarios);
  if (bpffs) assert.is(r.skipped, 0);
  assert.equal(r.leaked, { fds: 0, maps: [] });
  assert.is(openFdCount(), fds, 'bpf/perf fds open before and after');
  // r.leaked.maps: the ids of the maps conform opened that BPF_MAP_GET_NEXT_ID still lists
  assert.ok(hostMapIds(n!).every((id) => !r.leaked.maps.includes(id)));
  if (bpffs)
    assert.equal(
      readdirSync(bpffs).filter((f) => f.startsWith(`perfemu-conform-${process.pid}-`)),
      [],
    );
});

t('a scenario that throws half-way releases everything it made on the host', async () => {
  const p = probe as Exclude<typeof probe, string>;
  const fds = openFdCount();
  const h = new HostSys(p.native, p.cpus, bpffs, 'fail');
  const ids: number[] = [];
  h.onMapId = (id) => ids.push(id);
  const notes = await runOn(h, {
    name: 'fails',
    area: 'purge',
    async run(s, note) {
      const map = s.mapCreate({});
      const e = s.perfOpen({ cpu: 0 });
      note('mmap', s.mmap(e, 1));
      note('update', s.update(map, 0, e));
      s.progLoad(map);
      s.dup(map);
      if (bpffs) note('pin', s.pin(map, 'half-way'));
      await s.fork([map]);
      assert.ok(openFdCount() > fds);
      throw new Error('half-way');
    },
  });
  assert.equal(notes.at(-1), ['threw', 'Error: half-way']);
  assert.is(openFdCount(), fds);
  if (bpffs) assert.not.ok(existsSync(join(bpffs, `perfemu-conform-${process.pid}-fail-half-way`)));
  // the program held the map: it goes after a grace period
  const deadline = Date.now() + 3000;
  while (hostMapIds(p.native).some((id) => ids.includes(id)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  assert.equal(
    hostMapIds(p.native).filter((id) => ids.includes(id)),
    [],
  );
});

t('--detect names the modelled version of this host', async () => {
  const d = await detect({ bpffs, only: /freeze|ladder|purge: close|ring: full/ });
  assert.is(d.best, nearestVersion());
  const best = d.versions.find((v) => v.kernel === d.best)!;
  assert.is(best.differ, 0, best.differing.join('; '));
});

t('perfemu conform --json exits 0 and lists both sides', () => {
  const r = cli('conform', '--only', 'helper: index', '--json');
  assert.is(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { rows: { status: string; host: [string, string][]; perfemu: [string, string][] }[] };
  assert.is(doc.rows[0]!.status, 'agree');
  assert.ok(doc.rows[0]!.host.some(([l, v]) => l.includes('index 1') && v === 'EOPNOTSUPP'));
});

t('perfemu conform against the wrong version exits 1 and shows the first difference', () => {
  const r = cli('conform', '--only', '^freeze$', '--kernel', '5.10');
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stdout, /difference in 'freeze' at step 3, freeze again:\n {2}host: +EPERM\n {2}perfemu: EBUSY/);
});

test('perfemu conform: usage errors exit 2 naming the option', () => {
  let r = cli('conform', '--kernel', '9.9');
  assert.is(r.status, 2);
  assert.match(r.stderr, '--kernel must be one of');
  r = cli('conform', '--detect', '--kernel', '6.18');
  assert.is(r.status, 2);
  assert.match(r.stderr, '--detect');
  r = cli('conform', '--only', '(');
  assert.is(r.status, 2);
  assert.match(r.stderr, '--only');
});

test.run();
