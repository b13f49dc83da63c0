/**
 * THE memory map of the kernel arena: the one SharedArrayBuffer (the buffer of a shared
 * WebAssembly.Memory where the host allows, for its atomics: wasm_atomics.ts) that holds every
 * piece of emulated kernel state more than one thread touches. This is the only file with numeric
 * offsets; everything else reads the layout through the names exported here, and reaches a
 * record's words through its accessor in records.ts (fileWord, eventWord, mapWord, slotWord,
 * entryWord, progWord, pinWord, cpuWord, epollWord, ringWord, the RCU and violation words),
 * the one module beside this one that turns a table index into an address (wordPlace there is
 * the inverse, for traces). The allocator is arena.ts.
 *
 * Who reads the arena: the kernel (src/kernel/, which imports nothing but this directory),
 * user space through it (src/process/, src/consumer/), and the testers (inspect(), the
 * invariants of src/stress/invariants/ and the explorer), all through records.ts.
 *
 * Regions, in order (all offsets are Int32 word indices unless a name ends in `Byte`):
 *
 *   +--------------------+  word 0
 *   | header             |  magic, layout version, kernel behaviour, sizes, locks, id counters
 *   | file table         |  struct file: kind, object, f_count, f_mode, serial (the file's id)
 *   | perf event table   |  struct perf_event: id, cpu, oncpu, type/config, attr flags, file, rb
 *   | map table          |  struct bpf_map: id, type, sizes, flags, refcnt, usercnt, slot range
 *   | slots              |  one word per map index: entry handle (entry index + 1) or 0
 *   | slot extent map    |  allocator bookkeeping for the slot words
 *   | entry table        |  struct bpf_event_entry: event, perf file, map file (owner), gen
 *   | prog table         |  struct bpf_prog: id, refcnt, the maps it uses
 *   | pin table          |  bpffs inodes: path bytes, object kind, object index
 *   | RCU state          |  grace-period sequence and request, callback queue head/tail, per reader
 *   |                    |  (CPUs, then task contexts) its read-side word(s) and grace-period snapshot
 *   | RCU callback queue |  call_rcu records: kind, argument, grace period they wait for
 *   | per-CPU block      |  helper nesting level, counters (outputs, each errno, losses)
 *   | violation log      |  invariant violations seen by any thread (count + records)
 *   | epoll table        |  eventpoll instances: state, wake sequence (waiters sleep on it), sleepers
 *   | ring page map      |  allocator bookkeeping for ring pages
 *   | in-use bitmaps     |  per table, one bit per record that is not FREE (inspection only)
 *   +--------------------+  (padding to a page)
 *   | ring pages         |  per perf event: 1 control page + 2^n data pages (bytes)
 *   +--------------------+
 *
 * Reading the constants: the modules on the hot paths (the output helper and ring writes, RCU,
 * the purge and the file puts its callbacks do, the record accessors, the reader, the CPU loop)
 * copy the constants they import from here (and from errno, fault_ids, behaviour) into
 * module-local consts (`const { A, B } = layout`). V8 on Node 20 folds a module-local const
 * into optimized code but loads an imported binding from its module cell on every use: an A/B
 * of the output path measured 0.81-0.93 x the time with the copies. Imported functions gained
 * nothing from the same treatment, so they stay imports.
 *
 * Who touches what, and how (the role contract):
 * - Slot words: written only with the arena's atomic exchange / compare-exchange (any syscall
 *   thread: update, delete, purge, map free); read with acquire loads (Arena.loadAcquire: CPUs
 *   in the output helper, the purge, after their RCU entry). Never a plain store: a plain store
 *   could lose a concurrent exchange's old entry and so leak or double-put it.
 * - Wait-queue words (RB_POLL with RB_SLEEPERS, EP_WAKE with EP_SLEEPERS): the waker writes the
 *   word sequentially consistently, then reads the sleeper count (a plain load on x86-64, where
 *   the write was a locked instruction; Atomics elsewhere) and notifies only if it is non-zero;
 *   a sleeper adds itself with Atomics before Atomics.wait compares the word (kernel/wait.ts).
 *   The counts are not scheduling points for the explorer, which never sleeps.
 * - Any table record is marked LIVE by allocRecord (under the lock) before its allocator fills
 *   its fields with plain stores; other threads reach it only through a handle published after
 *   that (an fd table, a slot exchange, a file's object index). A snapshot (inspect, the stress
 *   engine's series) may see a record half made; the pause audits run when no allocation is.
 * - Entry records: written with plain stores by the allocating thread *before* the slot
 *   exchange that publishes them (the exchange is the release); read with plain loads by a CPU
 *   after its acquire load of the slot (Arena.loadAcquire). `gen` and `state` are ordered
 *   accesses (Atomics, or the acquire accessor on the output path) because
 *   other threads read them while one may recycle the entry (the output's use-after-free check
 *   reads `gen`; inspect() and the reference invariant read `state`), except
 *   the put's LIVE -> RCU step of `state`: in the correct kernel its only writer is the thread
 *   whose slot exchange got the entry back, so it is an acquire load and a release store; with
 *   a fault injected it is a compare-exchange (arraymap.ts, entry_mark_put).
 * - Reference counts (`f_count`, `refcnt`, `usercnt`, prog `refcnt`): Atomics.add / sub; the
 *   thread that takes a count from 1 to 0 runs the release.
 * - Table allocation (file, event, map, entry, prog, pin records, slot ranges, ring pages) and
 *   the RCU callback queue: under the arena lock (`H_LOCK`), a spin-then-wait mutex.
 * - Ring buffers: see the ordering diagram at RB_* below.
 *
 * - The output path (bpf_perf_event_output on a CPU) makes at most one atomic read-modify-write
 *   per output that wakes nobody: the RCU read-side entry (RC_CTR += 1), a full barrier, as a
 *   CPU's section entry must be ordered before its slot load. (A wakeup adds its wait-queue
 *   accesses above: the poll word's store and, with epoll, the epoll word's add; a lost sample
 *   adds E_LOST_SAMPLES's.) The helper takes no section itself; its caller does
 *   (kernel.cpu(c) once per call, a CPU worker's program loop once per up to 64 outputs,
 *   src/program.ts, so those outputs make none). Every other shared word it touches goes through
 *   Arena.loadAcquire / storeRelease (plain accesses on x86-64, Atomics elsewhere), which are
 *   still scheduling points for the explorer:
 *     acquire loads: the slot word, the entry's and event's `gen` (the use-after-free check),
 *     the event's `oncpu` and `rb`, the ring's data_tail ((A) in the ring diagram below);
 *     release stores: the ring's data_head (after (B)), and the RCU exit (RC_CTR += 1, whose only writer
 *     is that CPU: the section's loads must come before it, nothing more).
 *   Single-writer words of the producer (RB_HEAD, RB_NEST, RB_LOST, RB_WAKEUP, RB_EVENTS, the
 *   conservation counters, E_COUNT, the per-CPU counters) are plain loads and stores. The ring's
 *   settings (RB_DATA_SIZE, RB_WATERMARK, RB_OVERWRITE, RB_BACKWARD, RB_EVENT) are written
 *   before E_RB publishes the ring and never after, so the producer and the reader read them
 *   plainly. RB_PAUSED is the one word another thread changes under the producer
 *   (PERF_EVENT_IOC_PAUSE_OUTPUT, an Atomics store): the producer reads it plainly, as the
 *   kernel reads rb->paused, so a pause takes effect at a later output, not at a set point.
 *   The purge's slot loads are acquire loads too: they follow the task reader's RCU entry.
 *
 * JS Atomics are sequentially consistent, so the kernel's paired barriers collapse into the
 * Atomics operations named here (or the acquire/release accessors above); weaker-ordering bugs
 * of real hardware are out of scope.
 */

export const PAGE_SIZE = 4096;
export const ARENA_MAGIC = 0x554d4550; // "PEMU" little-endian
export const LAYOUT_VERSION = 9; // 9: rb->poll, its sleeper count and the direction word on line 1 of the control page
/**
 * Words per 64-byte cache line. The words each CPU writes on every output (its RCU reader word,
 * its counters, its event's E_COUNT) start on a line of their own, and no other CPU's words share
 * it: when they did (RCU readers 16 bytes apart, unaligned CPU and event records), every output
 * took the line away from the other cores (false sharing), and 4 CPUs on 2 cores wrote a third
 * less than one CPU per core.
 */
export const LINE_WORDS = 16;

// ---------------------------------------------------------------------------------------
// Header (word indices). Sizes are stored so that any thread can rebuild the layout from
// the buffer alone (attachArena).
export const H_MAGIC = 0;
export const H_LAYOUT_VERSION = 1;
export const H_KERNEL_VERSION = 2; // behaviour code, see kernel/behaviour.ts
export const H_STRICT = 3; // 1: strict purge (perfemu extension)
export const H_CPUS = 4;
// word 5 unused (the CPU pools' stop word, now in each pool's own control words: POOL_*)
export const H_LOCK = 6; // arena allocation lock: 0 free, 1 held, 2 held with waiters
export const H_RCU_LOCK = 7; // grace-period state machine lock (try-lock)
export const H_NEXT_MAP_ID = 8;
export const H_NEXT_PROG_ID = 9;
export const H_NEXT_EVENT_ID = 10;
export const H_NEXT_FILE_SERIAL = 11;
export const H_UNPRIV_BPF_DISABLED = 12; // sysctl kernel.unprivileged_bpf_disabled
export const H_CONSOLE_FILE = 13; // file index of the shared tty behind fds 0-2
// Allocation cursors (rotating, so a freed record is reused as late as possible: a stale
// index is then more likely to be caught by its generation than to alias a new object).
export const H_CUR_FILE = 14;
export const H_CUR_EVENT = 15;
export const H_CUR_MAP = 16;
export const H_CUR_ENTRY = 17;
export const H_CUR_PROG = 18;
export const H_CUR_PIN = 19;
/** purges whose exchange removed an entry other than the one they checked (the load-then-xchg window of perf_event_fd_array_release) */
export const H_FOREIGN_PURGED = 20;
/** next RCU task-reader index for a thread that makes syscalls (see RCU_TASK_READERS) */
export const H_NEXT_TASK_READER = 21;
export const H_NEXT_PID = 22;
export const H_CUR_EPOLL = 23;
/** injected fault (kernel/faults.ts), 0 for the correct kernel */
export const H_FAULT = 24;
/** Date.now() at arena creation, high and low 24 bits: violations carry ms since then */
export const H_T0_HI = 25;
export const H_T0_LO = 26;
// words 27 and 28 unused (the CPU pools' started and paused words, now POOL_*)
/** scratch word of the probe that tells whether a WebAssembly.Memory is the arena's (Arena's constructor) */
export const H_MEMORY_PROBE = 29;
/**
 * A CPU pool's control words (src/cpus.ts writes them, src/program.ts reads them in every CPU's
 * loop). Not in the arena: each pool has a SharedArrayBuffer of its own (POOL_WORDS words), so
 * two pools driving different CPUs of one kernel never stop, pause or count each other's CPUs.
 */
export const POOL_STOP = 0; // 1: the pool's programs stop
export const POOL_STARTED = 1; // programs of the pool that have started (CpuPool.ready waits on it)
export const POOL_PAUSED = 2; // 1 while CpuPool.pause() holds the spec programs between outputs (they wait on it)
export const POOL_WORDS = 4;
// Configured sizes (ArenaConfig), in this order.
export const H_CFG = 32;
export const HEADER_WORDS = 48;

export interface ArenaConfig {
  cpus: number;
  maxFiles: number;
  maxEvents: number;
  maxMaps: number;
  maxSlots: number; // slot words shared by all maps (sum of max_entries)
  maxEntries: number; // bpf_event_entry records (live + waiting for a grace period)
  maxProgs: number;
  maxPins: number;
  ringPages: number; // pages for all ring buffers (control + data pages)
  rcuQueue: number; // call_rcu records
  violationLog: number; // records kept (the count goes on past it)
  maxEpoll: number; // epoll instances (a consumer waiting on many rings at once)
}
export const CONFIG_KEYS: readonly (keyof ArenaConfig)[] = [
  'cpus',
  'maxFiles',
  'maxEvents',
  'maxMaps',
  'maxSlots',
  'maxEntries',
  'maxProgs',
  'maxPins',
  'ringPages',
  'rcuQueue',
  'violationLog',
  'maxEpoll',
];

// ---------------------------------------------------------------------------------------
// Object states shared by the tables. FREE records are available; DEAD records are freed
// objects kept for inspection until the slot is reused.
export const S_FREE = 0;
export const S_LIVE = 1;
export const S_DEAD = 2;
export const S_RCU = 3; // entry: put, waiting for a grace period before it is freed

// struct file
export const FILE_STRIDE = 8;
export const F_STATE = 0;
export const F_KIND = 1;
export const F_OBJ = 2; // index into the table of its kind
export const F_COUNT = 3; // f_count
export const F_MODE = 4; // FMODE_* bits below
export const F_SERIAL = 5; // unique id of this file (never reused); entries record it as owner
export const FILE_KIND_MAP = 1;
export const FILE_KIND_PERF = 2;
export const FILE_KIND_PROG = 3;
export const FILE_KIND_REGULAR = 4;
export const FILE_KIND_EPOLL = 5;
export const FMODE_READ = 1;
export const FMODE_WRITE = 2;

// struct perf_event
export const EVENT_STRIDE = 32; // two cache lines: E_COUNT, written per output by the bound CPU, shares no line with another event
export const E_STATE = 0;
export const E_ID = 1;
export const E_CPU = 2; // CPU it is bound to (-1: per-task)
export const E_ONCPU = 3; // CPU it runs on now (-1: disabled / not running)
export const E_TYPE = 4;
export const E_CONFIG = 5;
export const E_ATTR = 6; // ATTR_* bits below
export const E_FILE = 7; // its struct file
export const E_RB = 8; // word index of the ring's control page, or -1 (no ring attached)
export const E_RB_PAGES = 9; // data pages of the attached ring
export const E_MMAPS = 10; // mappings of the ring (the ring detaches when the last goes)
export const E_WAKEUP_EVENTS = 11;
export const E_WATERMARK = 12; // wakeup_watermark in bytes (attr.watermark set)
export const E_GEN = 13; // bumped on every allocation of the record
export const E_LOST_SAMPLES = 14; // event->lost_samples
export const E_EPOLL = 15; // word index of the epoll instance's wake word watching it, or 0
export const E_COUNT = 16; // the counter bpf_perf_event_read returns: samples written (plain; the bound CPU writes it)
export const ATTR_INHERIT = 1;
export const ATTR_SAMPLE_RAW = 2;
export const ATTR_WATERMARK = 4;
export const ATTR_DISABLED = 8;
export const ATTR_WRITE_BACKWARD = 16; // attr.write_backward (4.7+): records written from the end backwards

// struct bpf_map
export const MAP_STRIDE = 16;
export const M_STATE = 0;
export const M_ID = 1;
export const M_TYPE = 2;
export const M_KEY_SIZE = 3;
export const M_VALUE_SIZE = 4;
export const M_MAX_ENTRIES = 5;
export const M_FLAGS = 6; // map_flags as kept by the map (access bits are not kept)
export const M_REFCNT = 7;
export const M_USERCNT = 8;
export const M_SLOT_BASE = 9; // word index of slot 0
export const M_FROZEN = 10;

// struct bpf_event_entry. Slot words hold (entry index + 1); 0 is NULL.
export const ENTRY_STRIDE = 8;
export const EE_STATE = 0;
export const EE_EVENT = 1; // perf event index (ee->event)
export const EE_PERF_FILE = 2; // perf file index, holding one f_count (ee->perf_file)
export const EE_MAP_FILE = 3; // map file index that added it (ee->map_file)
export const EE_MAP_FILE_SERIAL = 4; // that file's serial: the owner identity we compare
export const EE_GEN = 5;
export const EE_MAP = 6; // the map it was created for (inspection and checks only)

// struct bpf_prog (only what the helper needs: the maps it references)
/**
 * MAX_USED_MAPS: how many distinct maps one program may use, 64 in every version modelled
 * (kernel/bpf/verifier.c in 4.7/4.8, include/linux/bpf_verifier.h later). The verifier walks the
 * program's map references in order (replace_map_fd_with_map_ptr in 4.7/4.8,
 * resolve_pseudo_ldimm64 from 5.10) and skips a map already in env->used_maps; only a new distinct
 * map past 64 fails, with E2BIG. References to a map already used cost nothing.
 */
export const MAX_USED_MAPS = 64;
/**
 * perfemu's own cap on map references per program: the record below keeps one word per
 * reference (the helper reads P_MAPS + mapRef, no indirection), so it needs a bound. The kernel
 * has none short of the program's size; a load past this one that the kernel would accept is
 * an ERR_PERFEMU_UNSUPPORTED error, not an errno.
 */
export const PROG_MAX_REFS = 256;
export const PROG_STRIDE = 4 + PROG_MAX_REFS;
export const P_STATE = 0;
export const P_ID = 1;
export const P_REFCNT = 2;
export const P_NMAPS = 3; // map references (the maps array's length), duplicates included
export const P_MAPS = 4; // reference n's map index; a map referenced twice appears twice

// bpffs inode
export const PIN_PATH_MAX = 252; // bytes
export const PIN_STRIDE = 4 + PIN_PATH_MAX / 4;
export const PN_STATE = 0;
export const PN_KIND = 1; // FILE_KIND_MAP or FILE_KIND_PROG
export const PN_OBJ = 2;
export const PN_PATH_LEN = 3;
export const PN_PATH = 4; // PIN_PATH_MAX bytes of UTF-8

// RCU state
export const RCU_GP_SEQ = 0; // even: idle, odd: a grace period is in progress
export const RCU_GP_REQ = 1; // highest RCU_GP_SEQ value some waiter or callback needs
export const RCU_Q_HEAD = 2; // callback queue: next record to run (free-running)
export const RCU_Q_TAIL = 3; // next free record (free-running)
export const RCU_WAKE = 4; // bumped + notified at every grace-period end (waiters sleep on it)
export const RCU_PER_CPU = LINE_WORDS; // then per reader: RCU_CPU_STRIDE words, each reader on its own line
/**
 * RCU readers are the CPUs (0 .. cpus-1) and then RCU_TASK_READERS task contexts: the
 * syscall threads (main, app workers), which read entries under rcu_read_lock in the purge.
 * Threads beyond that share task readers (nesting uses Atomics.add, so sharing only makes a
 * grace period wait longer).
 */
export const RCU_TASK_READERS = 16;
export const RCU_CPU_STRIDE = LINE_WORDS; // a CPU writes its RC_CTR twice per output
export const RC_NESTING = 0; // task readers: threads inside a section (Atomics.add)
export const RC_CTR = 1; // CPU readers: odd while inside a section; task readers: bumped at the last exit
export const RC_SNAP = 2; // grace-period snapshot of RC_CTR, -1 if the CPU was idle
/**
 * A call_rcu record is 16 bytes: three words and a word of padding. Why the padding: the
 * release purge queues its records in one batch, copied into the queue with TypedArray.set,
 * and V8 copies into a SharedArrayBuffer word by word only when source and destination are
 * equally aligned mod 8 (byte by byte otherwise: a 4096-record batch took 14-17 us instead of
 * 5). With 16-byte records on a 16-byte aligned queue every batch lands aligned.
 */
export const RCU_CB_STRIDE = 4;
export const CB_KIND = 0;
export const CB_ARG = 1;
export const CB_GP = 2; // RCU_GP_SEQ value at which the callback may run

// Per-CPU block: counters written by that CPU only, with plain increments (one writer; readers
// use Atomics.load and may see a value a few outputs old, never a torn one).
export const CPU_STRIDE = LINE_WORDS; // one cache line per CPU, aligned
export const C_NEST = 0; // bpf_trace_nest_level
export const C_OUTPUTS = 1; // successful outputs (record written)
export const C_LOST = 2; // outputs that found the ring full (counted as lost)
export const C_NORB = 3; // outputs into an event without a ring (no lost count)
export const C_EINVAL = 4;
export const C_E2BIG = 5;
export const C_ENOENT = 6;
export const C_EOPNOTSUPP = 7;
export const C_ENOSPC = 8; // returned -ENOSPC (5.10+)
export const C_EBUSY = 9;
/** 1 when the CPU is possible but not online (cpu_online_mask); written once at kernel creation */
export const C_OFFLINE = 10;

// Violation log: V_COUNT, then records of VIOLATION_STRIDE words.
export const V_COUNT = 0;
export const VIOLATION_STRIDE = 8;
export const VR_KIND = 0;
export const VR_CPU = 1; // -1 when not on a CPU
export const VR_A = 2;
export const VR_B = 3;
export const VR_C = 4;
export const VR_D = 5;
export const VR_TIME = 6; // ms since arena creation

// eventpoll instance: the waiter sleeps on EP_WAKE; a ring wakeup of any event whose E_EPOLL
// names this instance bumps EP_WAKE and notifies it (the wait-queue callback of epoll).
export const EPOLL_STRIDE = 4;
export const EP_STATE = 0;
export const EP_WAKE = 1;
/** threads blocked on EP_WAKE (kernel/wait.ts): a wakeup notifies only when some thread sleeps */
export const EP_SLEEPERS = 3;
// An eventfd registered in the instance, as cilium/ebpf's reader adds one for Flush: a write
// sets it and wakes the waiter; the consumer takes (and clears) it after its wait.
export const EP_EVENTFD = 2;

// ---------------------------------------------------------------------------------------
// Ring buffer: (1 + 2^n) pages per event. The control page starts with struct
// perf_buffer's kernel-private fields (words RB_*), and carries the user-visible
// perf_event_mmap_page fields at their real byte offsets (data_head at 1024, data_tail at
// 1032, data_offset 1040, data_size 1048). Counters are 32-bit free-running byte counts in
// the low word of the kernel's u64 fields: offsets (counter & (size-1)) and differences
// ((head - tail) >>> 0) are the same as with 64 bits while data_size <= 2^30.
//
// Ordering: the diagram of perf_output_put_handle (kernel/events/ring_buffer.c), with its
// letters, in JS terms:
//
//   kernel (the CPU the event is bound to)        user (the reader)
//   ---------------------------------------       ------------------------------
//   if (tail = loadAcquire(data_tail)) {          head = Atomics.load(data_head)   (C)
//                                         (A)     (Atomics.load orders the loads below)
//     plain stores of the record bytes            plain loads of records [tail, head)
//                                         (B)     (Atomics.store orders the loads above)
//     storeRelease(data_head, new)                Atomics.store(data_tail, new)    (D)
//   }
//
// As the kernel says: A pairs with D, B pairs with C. (A) is the space test's control
// dependency on data_tail (here an acquire load): the producer never overwrites bytes the
// reader has not finished copying before its (D). (B) orders the record's stores before
// data_head (here a release store): a reader that sees the head after its (C) sees the bytes.
// Only the outermost of nested writers publishes data_head (RB_NEST), as
// perf_output_put_handle does.
export const RB_HEAD = 0; // rb->head: reservation head (producer-local)
export const RB_NEST = 1; // rb->nest
export const RB_LOST = 2; // rb->lost: records lost since the last LOST record was written
export const RB_WAKEUP = 3; // rb->wakeup: wakeup mark (bytes)
export const RB_EVENTS = 4; // rb->events: samples since the last wakeup_events bump
export const RB_WATERMARK = 5; // rb->watermark (bytes)
export const RB_PAUSED = 7; // rb->paused (a ring with no data pages starts paused)
export const RB_EVENT = 8; // owning perf event index
// Conservation counters (perfemu instrumentation, not in the kernel's struct): plain words,
// each written by one side only and read by the checker after the ring is detached and a grace
// period has passed (so no writer is left).
export const RB_OUTPUTS = 10; // samples written (producer)
export const RB_LOST_TOTAL = 11; // outputs lost for lack of room (producer)
// the reader's two words sit on a cache line of their own (line 2, words 32-47): the producer
// writes words 0-15 on every output, and a reader's writes there would take that line from its CPU
export const RB_READ_SAMPLES = 2 * LINE_WORDS; // samples the reader walked (consumer)
export const RB_READ_LOST = 2 * LINE_WORDS + 1; // sum of the lost counts of the LOST records walked (consumer)
// Line 1 (words 16-31) holds the words a reader reads or writes on every poll or walk and the
// producer does not touch per output: rb->poll (cleared by every poll(), set by a wakeup), the
// count of its sleepers (read by every wakeup, beside the word it sets) and which way records
// run. In words 0-15, which the producer writes on every output, each poll took that line from
// the producer's CPU (the readers' RB_READ_* words moved for the same reason).
export const RB_POLL = LINE_WORDS; // rb->poll: EPOLLIN set by a wakeup, cleared by poll()
/** threads blocked on RB_POLL (kernel/wait.ts): perf_output_wakeup notifies only when some thread sleeps */
export const RB_SLEEPERS = LINE_WORDS + 2;
export const RB_OVERWRITE = 14; // rb->overwrite: mapped without PROT_WRITE, the producer never checks data_tail
// perfemu instrumentation: the ring's event has attr.write_backward (set when the ring is made;
// the kernel asks the event, is_write_backward(), and only that event writes here), so readers
// and the audit know which way records run.
export const RB_BACKWARD = LINE_WORDS + 1;
export const RB_DATA_HEAD = 1024 / 4; // perf_event_mmap_page.data_head (low 32 bits)
export const RB_DATA_TAIL = 1032 / 4; // perf_event_mmap_page.data_tail (low 32 bits)
export const RB_DATA_OFFSET = 1040 / 4;
export const RB_DATA_SIZE = 1048 / 4;
export const POLL_IN = 1; // EPOLLIN | EPOLLRDNORM, as one bit

// perf record formats (include/uapi/linux/perf_event.h)
export const PERF_RECORD_LOST = 2;
export const PERF_RECORD_SAMPLE = 9;
export const PERF_RECORD_MISC_KERNEL = 1;
export const PERF_HEADER_SIZE = 8; // u32 type, u16 misc, u16 size
export const PERF_LOST_RECORD_SIZE = 24; // header, u64 id, u64 lost
export const PERF_RECORD_MAX = 0xffff; // header.size is a u16

// ---------------------------------------------------------------------------------------
/**
 * The record tables, each with an in-use bitmap: bit r of a table's bitmap is set while record
 * r is not FREE (LIVE, DEAD kept for inspection, or an entry waiting for its grace period).
 * The allocator sets it under the arena lock; a free clears it *before* storing FREE, so a
 * concurrent reuse (which needs FREE first) sets it again after. Readers (inspect, checkers)
 * visit only set bits: a snapshot costs one word per 32 records plus the records in use.
 * Bookkeeping, not kernel state: plain Atomics.or/and, never a scheduling point.
 */
export const TABLES = ['file', 'event', 'map', 'entry', 'prog', 'pin', 'epoll'] as const;
export type TableName = (typeof TABLES)[number];

export interface Layout extends ArenaConfig {
  fileBase: number;
  eventBase: number;
  mapBase: number;
  slotBase: number;
  slotExtentBase: number;
  entryBase: number;
  progBase: number;
  pinBase: number;
  rcuBase: number;
  rcuQueueBase: number;
  cpuBase: number;
  violationBase: number;
  epollBase: number;
  ringExtentBase: number;
  /** word index of each table's in-use bitmap (see TABLES) */
  inUse: Record<TableName, number>;
  /** word index of the first ring page (page aligned) */
  ringBase: number;
  totalBytes: number;
}

/** each table's record size (words) and its allocation cursor in the header */
export const TABLE_STRIDE: Record<TableName, number> = {
  file: FILE_STRIDE,
  event: EVENT_STRIDE,
  map: MAP_STRIDE,
  entry: ENTRY_STRIDE,
  prog: PROG_STRIDE,
  pin: PIN_STRIDE,
  epoll: EPOLL_STRIDE,
};
export const TABLE_CURSOR: Record<TableName, number> = {
  file: H_CUR_FILE,
  event: H_CUR_EVENT,
  map: H_CUR_MAP,
  entry: H_CUR_ENTRY,
  prog: H_CUR_PROG,
  pin: H_CUR_PIN,
  epoll: H_CUR_EPOLL,
};
/** word index of record 0 of a table */
export function tableBase(L: Layout, t: TableName): number {
  switch (t) {
    case 'file':
      return L.fileBase;
    case 'event':
      return L.eventBase;
    case 'map':
      return L.mapBase;
    case 'entry':
      return L.entryBase;
    case 'prog':
      return L.progBase;
    case 'pin':
      return L.pinBase;
    case 'epoll':
      return L.epollBase;
  }
}

/** how many records each table has */
export function tableCount(cfg: ArenaConfig, t: TableName): number {
  switch (t) {
    case 'file':
      return cfg.maxFiles;
    case 'event':
      return cfg.maxEvents;
    case 'map':
      return cfg.maxMaps;
    case 'entry':
      return cfg.maxEntries;
    case 'prog':
      return cfg.maxProgs;
    case 'pin':
      return cfg.maxPins;
    case 'epoll':
      return cfg.maxEpoll;
  }
}

/** Computes every region's offset from the configured sizes. Pure: any thread gets the same. */
export function computeLayout(cfg: ArenaConfig): Layout {
  let w = HEADER_WORDS;
  const take = (words: number): number => {
    const at = w;
    w += words;
    return at;
  };
  /** the next region starts on a cache line (LINE_WORDS) */
  const line = (): void => {
    w = Math.ceil(w / LINE_WORDS) * LINE_WORDS;
  };
  const fileBase = take(cfg.maxFiles * FILE_STRIDE);
  line();
  const eventBase = take(cfg.maxEvents * EVENT_STRIDE);
  const mapBase = take(cfg.maxMaps * MAP_STRIDE);
  const slotBase = take(cfg.maxSlots);
  const slotExtentBase = take(cfg.maxSlots);
  const entryBase = take(cfg.maxEntries * ENTRY_STRIDE);
  const progBase = take(cfg.maxProgs * PROG_STRIDE);
  const pinBase = take(cfg.maxPins * PIN_STRIDE);
  line();
  const rcuBase = take(RCU_PER_CPU + (cfg.cpus + RCU_TASK_READERS) * RCU_CPU_STRIDE);
  line(); // the queue starts on a line (the RCU region is whole lines today): 16-byte records stay 16-byte aligned
  const rcuQueueBase = take(cfg.rcuQueue * RCU_CB_STRIDE);
  line();
  const cpuBase = take(cfg.cpus * CPU_STRIDE);
  line(); // nothing after the last CPU's block shares its line
  const violationBase = take(1 + cfg.violationLog * VIOLATION_STRIDE);
  const epollBase = take(cfg.maxEpoll * EPOLL_STRIDE);
  const ringExtentBase = take(cfg.ringPages);
  const inUse = {} as Record<TableName, number>;
  for (const t of TABLES) inUse[t] = take(Math.ceil(tableCount(cfg, t) / 32));
  const pageWords = PAGE_SIZE / 4;
  const ringBase = Math.ceil(w / pageWords) * pageWords;
  const totalBytes = (ringBase + cfg.ringPages * pageWords) * 4;
  return {
    ...cfg,
    fileBase,
    eventBase,
    mapBase,
    slotBase,
    slotExtentBase,
    entryBase,
    progBase,
    pinBase,
    rcuBase,
    rcuQueueBase,
    cpuBase,
    violationBase,
    epollBase,
    ringExtentBase,
    inUse,
    ringBase,
    totalBytes,
  };
}
