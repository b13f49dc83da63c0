/**
 * bpf(2) for one process: each method is one command, its arguments validated here once, the
 * fds resolved through the process's fd table, then handed to kernel/bpf/syscall.ts; a
 * negative errno becomes a SystemCallError.
 */
import { ERR } from '../arena/perfemu_error.js';
import { FILE_KIND_PROG, MAX_USED_MAPS, PROG_MAX_REFS } from '../arena/layout.js';
import { PerfemuError, SystemCallError, check, checkKeys, invalidArgType, invalidArgValue, optionKeys, validateInt, validateU32 } from '../errors.js';
import type { Kctx } from '../kernel/context.js';
import { EINVAL } from '../kernel/errno.js';
import { file_kind, file_obj } from '../kernel/file.js';
import { bpf_obj_get, bpf_obj_pin } from '../kernel/bpf/inode.js';
import {
  BPF_MAP_TYPE_ARRAY,
  BPF_MAP_TYPE_PERF_EVENT_ARRAY,
  MAP_TYPE_NOT_MODELLED,
  map_create,
  map_delete_elem,
  map_freeze,
  map_get_fd_by_id,
  map_get_next_id,
  map_get_next_key,
  map_lookup_elem,
  map_update_elem,
  PROG_TOO_MANY_REFS,
  prog_load,
} from '../kernel/bpf/syscall.js';
import type { Task } from './task.js';

export interface MapCreateOptions {
  type: 'perf_event_array' | 'array' | number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** map_flags, e.g. BPF_F_PRESERVE_ELEMS, BPF_F_RDONLY */
  flags?: number;
  /** stands for any attr field this kernel does not know or requires to be 0 (CHECK_ATTR) */
  mapExtra?: number;
}

const MAP_CREATE_KEYS = optionKeys<MapCreateOptions>({ type: true, keySize: true, valueSize: true, maxEntries: true, flags: true, mapExtra: true });

const MAP_TYPE_NAMES: Record<string, number> = { perf_event_array: BPF_MAP_TYPE_PERF_EVENT_ARRAY, array: BPF_MAP_TYPE_ARRAY };
/** types the kernel knows that perfemu does not model (their numbers up to BPF_MAP_TYPE_ARENA) */
const KNOWN_MAP_TYPE_MAX = 33;

/** bpf(2) for one process */
export class BpfSyscalls {
  #p: Task;
  #k: Kctx;
  constructor(p: Task, k: Kctx) {
    this.#p = p;
    this.#k = k;
  }

  mapCreate(opts: MapCreateOptions): number {
    const k = this.#p.live('bpf');
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('options', 'an object', opts);
    checkKeys('options', opts, MAP_CREATE_KEYS);
    let mapType: number;
    if (typeof opts.type === 'string') {
      const t = MAP_TYPE_NAMES[opts.type];
      if (t === undefined) throw invalidArgValue('type', "must be 'perf_event_array', 'array' or a BPF_MAP_TYPE_* number", opts.type);
      mapType = t;
    } else mapType = validateU32('type', opts.type);
    if (mapType !== BPF_MAP_TYPE_PERF_EVENT_ARRAY && mapType !== BPF_MAP_TYPE_ARRAY && mapType > 0 && mapType <= KNOWN_MAP_TYPE_MAX) {
      throw new PerfemuError(ERR.UNSUPPORTED, `map type ${mapType} is a kernel map type perfemu does not model (perf_event_array only)`);
    }
    const attr = {
      mapType,
      keySize: validateU32('keySize', opts.keySize),
      valueSize: validateU32('valueSize', opts.valueSize),
      maxEntries: validateU32('maxEntries', opts.maxEntries),
      mapFlags: validateU32('flags', opts.flags ?? 0),
      attrTail: validateU32('mapExtra', opts.mapExtra ?? 0) !== 0,
    };
    const info = `BPF_MAP_CREATE, type ${mapType}, key ${attr.keySize}, value ${attr.valueSize}, max_entries ${attr.maxEntries}, flags 0x${attr.mapFlags.toString(16)}`;
    const f = map_create(k, attr, this.#p);
    if (f === MAP_TYPE_NOT_MODELLED) {
      throw new PerfemuError(ERR.UNSUPPORTED, `${info}: the kernel would create this map; perfemu models only perf event arrays`);
    }
    return this.#p.install(check(f, 'bpf', info), 'bpf');
  }

  /** BPF_MAP_UPDATE_ELEM: puts the perf event behind fd `value` at index `key` */
  mapUpdateElem(fd: number, key: number, value: number, flags = 0): void {
    const k = this.#p.live('bpf');
    validateU32('key', key);
    validateU32('value', value);
    validateU32('flags', flags);
    check(
      map_update_elem(k, this.#p.fileIndex(fd), key, this.#p.fileIndex(value, 'value'), flags, this.#p),
      'bpf',
      `BPF_MAP_UPDATE_ELEM, fd ${fd}, key ${key}, value ${value}, flags ${flags}`,
    );
  }

  /** BPF_MAP_LOOKUP_ELEM: a perf event array never returns its entries (always throws) */
  mapLookupElem(fd: number, key: number, flags = 0): number {
    const k = this.#p.live('bpf');
    validateU32('key', key);
    validateU32('flags', flags);
    return check(map_lookup_elem(k, this.#p.fileIndex(fd), key, flags, this.#p), 'bpf', `BPF_MAP_LOOKUP_ELEM, fd ${fd}, key ${key}`);
  }

  mapDeleteElem(fd: number, key: number): void {
    const k = this.#p.live('bpf');
    validateU32('key', key);
    check(map_delete_elem(k, this.#p.fileIndex(fd), key, this.#p), 'bpf', `BPF_MAP_DELETE_ELEM, fd ${fd}, key ${key}`);
  }

  /** BPF_MAP_GET_NEXT_KEY; `key` null passes a NULL key (start of iteration, 5.10+) */
  mapGetNextKey(fd: number, key: number | null): number {
    const k = this.#p.live('bpf');
    if (key !== null) validateU32('key', key);
    return check(map_get_next_key(k, this.#p.fileIndex(fd), key, this.#p), 'bpf', `BPF_MAP_GET_NEXT_KEY, fd ${fd}, key ${key}`);
  }

  /** BPF_MAP_FREEZE (5.10+; an unknown command, EINVAL, before) */
  mapFreeze(fd: number): void {
    const k = this.#p.live('bpf');
    const info = `BPF_MAP_FREEZE, fd ${fd}`;
    if (!k.b.freeze) throw new SystemCallError('bpf', -EINVAL, info, `kernel ${k.b.version} has no BPF_MAP_FREEZE`);
    check(map_freeze(k, this.#p.fileIndex(fd), this.#p), 'bpf', info);
  }

  /** BPF_MAP_GET_FD_BY_ID (4.13+): a new fd (a new map file: a new owner) for map `id` */
  /**
   * BPF_MAP_GET_NEXT_ID (4.13+; EINVAL, an unknown command, on 4.7/4.8): the smallest map id
   * above `startId` in the kernel's map idr, or ENOENT. A map leaves the idr when its last
   * reference goes (bpf_map_put -> bpf_map_free_id), before its deferred free runs.
   */
  mapGetNextId(startId: number): number {
    const k = this.#p.live('bpf');
    validateU32('startId', startId);
    const info = `BPF_MAP_GET_NEXT_ID, start_id ${startId}`;
    if (!k.b.mapGetFdById) throw new SystemCallError('bpf', -EINVAL, info, `kernel ${k.b.version} has no BPF_MAP_GET_NEXT_ID`);
    return check(map_get_next_id(k, startId, this.#p), 'bpf', info);
  }

  mapGetFdById(id: number, openFlags = 0): number {
    const k = this.#p.live('bpf');
    validateU32('id', id);
    validateU32('openFlags', openFlags);
    const info = `BPF_MAP_GET_FD_BY_ID, id ${id}, open_flags ${openFlags}`;
    if (!k.b.mapGetFdById) throw new SystemCallError('bpf', -EINVAL, info, `kernel ${k.b.version} has no BPF_MAP_GET_FD_BY_ID`);
    return this.#p.install(check(map_get_fd_by_id(k, id, openFlags, this.#p), 'bpf', info), 'bpf');
  }

  objPin(fd: number, path: string, flags = 0): void {
    const k = this.#p.live('bpf');
    if (typeof path !== 'string') throw invalidArgType('path', 'a string', path);
    validateU32('flags', flags);
    check(bpf_obj_pin(k, this.#p.fileIndex(fd), path, flags, this.#p), 'bpf', `BPF_OBJ_PIN, fd ${fd}, ${path}`);
  }

  /** BPF_OBJ_GET: a new fd (a new map file: a new owner) for the pinned object */
  objGet(path: string, flags = 0): number {
    const k = this.#p.live('bpf');
    if (typeof path !== 'string') throw invalidArgType('path', 'a string', path);
    validateU32('flags', flags);
    const f = check(bpf_obj_get(k, path, flags, this.#p), 'bpf', `BPF_OBJ_GET, ${path}, flags ${flags}`);
    return this.#p.install(f, 'bpf');
  }

  /** BPF_PROG_LOAD of a program that uses the maps behind `maps` (it holds a reference on each) */
  progLoad(opts: { maps: number[] }): number {
    const k = this.#p.live('bpf');
    if (typeof opts !== 'object' || opts === null || !Array.isArray(opts.maps)) throw invalidArgType('maps', 'an array of map fds', opts?.maps);
    checkKeys('options', opts, ['maps']);
    const files = opts.maps.map((fd, i) => this.#p.fileIndex(validateInt(`maps[${i}]`, fd, 0, 0x7fffffff)));
    const info = `BPF_PROG_LOAD, maps [${opts.maps.join(', ')}]`;
    const r = prog_load(k, files, this.#p);
    if (r === PROG_TOO_MANY_REFS) {
      throw new PerfemuError(
        ERR.UNSUPPORTED,
        `BPF_PROG_LOAD: the "maps" option holds ${files.length} map references; perfemu keeps at most ${PROG_MAX_REFS} per program (the kernel would load it: it limits only the distinct maps, to ${MAX_USED_MAPS})`,
      );
    }
    const f = check(r, 'bpf', info);
    return this.#p.install(f, 'bpf');
  }

  /** @internal the program behind a prog fd, or -1 */
  progIndex(fd: number): number {
    const f = this.#p.fileIndex(fd);
    if (f < 0 || file_kind(this.#k, f) !== FILE_KIND_PROG) return -1;
    return file_obj(this.#k, f);
  }
}
