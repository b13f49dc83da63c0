/**
 * The errno table (src/kernel/errno.ts) as users see it: every failed system call's `code`,
 * `errno` and message text. The texts are Linux's (glibc's strerror on x86-64), except
 * ENOTSUPP, which has none there ("Unknown error 524"): it is the kernel's own comment in
 * include/linux/errno.h.
 */
import { constants } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SystemCallError } from '../src/index.js';
import * as errno from '../src/kernel/errno.js';
import { ERRNO_NAMES, errnoName } from '../src/kernel/errno.js';

/** [name, number, strerror text] as Linux has them */
const LINUX: [string, number, string][] = [
  ['EPERM', 1, 'Operation not permitted'],
  ['ENOENT', 2, 'No such file or directory'],
  ['ESRCH', 3, 'No such process'],
  ['E2BIG', 7, 'Argument list too long'],
  ['EBADF', 9, 'Bad file descriptor'],
  ['ENOMEM', 12, 'Cannot allocate memory'],
  ['EACCES', 13, 'Permission denied'],
  ['EFAULT', 14, 'Bad address'],
  ['EBUSY', 16, 'Device or resource busy'],
  ['EEXIST', 17, 'File exists'],
  ['ENODEV', 19, 'No such device'],
  ['EINVAL', 22, 'Invalid argument'],
  ['EMFILE', 24, 'Too many open files'],
  ['ENOTTY', 25, 'Inappropriate ioctl for device'],
  ['ENOSPC', 28, 'No space left on device'],
  ['ENAMETOOLONG', 36, 'File name too long'],
  ['EOPNOTSUPP', 95, 'Operation not supported'],
  ['ENOTSUPP', 524, 'Operation is not supported (kernel-internal 524)'],
];

test('the table holds exactly these errnos, with the numbers Linux (and Node) give them', () => {
  assert.equal(
    Object.keys(ERRNO_NAMES).map(Number),
    LINUX.map((e) => e[1]),
  );
  for (const [name, n] of LINUX) {
    assert.is((errno as Record<string, unknown>)[name], n, name);
    if (name !== 'ENOTSUPP') assert.is((constants.errno as Record<string, number>)[name], n, `${name} in node:os`);
  }
});

for (const [name, n, text] of LINUX) {
  test(`a system call failing with ${name} throws code '${name}', errno -${n} and the text "${text}"`, () => {
    for (const ret of [-n, n]) {
      const e = new SystemCallError('bpf', ret, 'BPF_MAP_UPDATE_ELEM');
      assert.equal([e.code, e.errno, e.syscall, e.info], [name, -n, 'bpf', 'BPF_MAP_UPDATE_ELEM']);
      assert.is(e.message, `bpf(BPF_MAP_UPDATE_ELEM) failed: ${name} (${text})`);
    }
    assert.is(errnoName(-n), name);
    assert.is(errnoName(n), name);
  });
}

test('an errno outside the table is named E<number>, with the text "Unknown error"', () => {
  assert.is(errnoName(-1234), 'E1234');
  assert.is(errnoName(4), 'E4');
  const e = new SystemCallError('ioctl', -4, 'fd 3', 'interrupted');
  assert.equal([e.code, e.errno], ['E4', -4]);
  assert.is(e.message, 'ioctl(fd 3) failed: E4 (Unknown error): interrupted');
});

test.run();
