/** bpf_perf_event_read and bpf_perf_event_read_value (kernel/trace/bpf_trace.c), and the kernel selftest pe_preserve_elems. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_CURRENT_CPU, BPF_F_PRESERVE_ELEMS } from '../src/index.js';
import { MODERN, OLD, mk, payload, perfArray, throwsCode } from './fixtures/scenario.js';

for (const v of MODERN) {
  test(`${v}: pe_preserve_elems: read_value works, then after the map fd's close ENOENT without PRESERVE_ELEMS and 0 with it`, () => {
    const kernel = mk(v, 2);
    const p = kernel.process('selftest');
    const array1 = perfArray(p, 1);
    const array2 = perfArray(p, 1, BPF_F_PRESERVE_ELEMS);
    const prog = p.bpf.progLoad({ maps: [array1, array2] });
    for (const m of [array1, array2]) {
      const fd = p.perfEventOpen({ cpu: -1, pid: 0, type: 'software', config: 'cpu_clock', mmap: false }); // per-task
      p.bpf.mapUpdateElem(m, 0, fd);
      p.close(fd); // the map's reference keeps it alive
    }
    assert.equal(
      [0, 1].map((i) => kernel.cpu(0).perfEventReadValue(prog, i, 0).ret),
      [0, 0],
    );
    p.close(array1);
    p.close(array2);
    assert.equal(
      [0, 1].map((i) => kernel.cpu(0).perfEventReadValue(prog, i, 0).ret),
      [-2, 0],
    );
  });
  test(`${v}: read_value: a size other than 24 is EINVAL and the value is zeroed; another CPU's event EINVAL; the counter counts samples`, () => {
    const kernel = mk(v, 2);
    const p = kernel.process('app');
    const m = perfArray(p, 2);
    const prog = p.bpf.progLoad({ maps: [m] });
    p.bpf.mapUpdateElem(m, 0, p.perfEventOpen({ cpu: 0 }));
    for (let i = 0; i < 3; i++) kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(8));
    assert.equal(kernel.cpu(0).perfEventReadValue(prog, 0, BPF_F_CURRENT_CPU), { ret: 0, counter: 3, enabled: 0, running: 0 });
    assert.equal(kernel.cpu(0).perfEventReadValue(prog, 0, 0, 16), { ret: -22, counter: 0, enabled: 0, running: 0 });
    assert.is(kernel.cpu(1).perfEventReadValue(prog, 0, 0).ret, -22, "CPU 0's event read on CPU 1");
    assert.is(kernel.cpu(1).perfEventRead(prog, 0, BPF_F_CURRENT_CPU), -2, 'slot 1 empty');
    assert.is(kernel.cpu(0).perfEventRead(prog, 0, 2 ** 32), -22, 'flags above the index mask');
    assert.is(kernel.cpu(0).perfEventRead(prog, 0, 5), -7, 'index >= max_entries');
  });
}

for (const v of OLD) {
  test(`${v}: bpf_perf_event_read: only HARDWARE/RAW events on this CPU; ${v === '4.7' ? 'BPF_F_CURRENT_CPU is an index (E2BIG)' : 'BPF_F_CURRENT_CPU resolves'}; no read_value`, () => {
    const kernel = mk(v, 2);
    const p = kernel.process('app');
    const m = perfArray(p, 2);
    const prog = p.bpf.progLoad({ maps: [m] });
    p.bpf.mapUpdateElem(m, 0, p.perfEventOpen({ cpu: 0, type: 'hardware', config: 0, mmap: false }));
    p.bpf.mapUpdateElem(m, 1, p.perfEventOpen({ cpu: 1, mmap: false }));
    assert.is(kernel.cpu(0).perfEventRead(prog, 0, 0), 0, 'the HW event on its CPU');
    assert.is(kernel.cpu(1).perfEventRead(prog, 0, 0), -22, 'not on this CPU');
    assert.is(kernel.cpu(1).perfEventRead(prog, 0, 1), -22, 'a BPF output event cannot be read');
    assert.is(kernel.cpu(0).perfEventRead(prog, 0, BPF_F_CURRENT_CPU), v === '4.7' ? -7 : 0);
    throwsCode(() => kernel.cpu(0).perfEventReadValue(prog, 0, 0), 'EINVAL');
  });
}

test.run();
