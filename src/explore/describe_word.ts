/**
 * A word index in words a person can read ("map 0 slot 1", "entry 3 .state", "ring page 2
 * data_head"), for the explorer's traces. Where a word lies is the layout's answer
 * (arena/records.ts wordPlace); this file only names the fields.
 */
import {
  C_LOST,
  C_NEST,
  C_OFFLINE,
  C_OUTPUTS,
  E_COUNT,
  E_EPOLL,
  E_GEN,
  E_LOST_SAMPLES,
  E_MMAPS,
  E_ONCPU,
  E_RB,
  E_STATE,
  EE_EVENT,
  EE_GEN,
  EE_MAP_FILE,
  EE_MAP_FILE_SERIAL,
  EE_PERF_FILE,
  EE_STATE,
  F_COUNT,
  F_KIND,
  F_MODE,
  F_OBJ,
  F_SERIAL,
  F_STATE,
  M_FROZEN,
  M_REFCNT,
  M_STATE,
  M_USERCNT,
  P_REFCNT,
  P_STATE,
  RB_DATA_HEAD,
  RB_DATA_TAIL,
  RB_HEAD,
  RB_LOST,
  RB_OVERWRITE,
  RB_PAUSED,
  RB_POLL,
  RC_CTR,
  RC_NESTING,
  RC_SNAP,
  RCU_GP_REQ,
  RCU_GP_SEQ,
  RCU_Q_HEAD,
  RCU_Q_TAIL,
  RCU_WAKE,
  type Layout,
} from '../arena/layout.js';
import { slotPlace, wordPlace } from '../arena/records.js';

const FIELD_NAMES: Partial<Record<string, Record<number, string>>> = {
  file: { [F_STATE]: 'state', [F_KIND]: 'kind', [F_OBJ]: 'obj', [F_COUNT]: 'f_count', [F_MODE]: 'f_mode', [F_SERIAL]: 'serial' },
  event: {
    [E_STATE]: 'state',
    [E_ONCPU]: 'oncpu',
    [E_RB]: 'rb',
    [E_MMAPS]: 'mmaps',
    [E_GEN]: 'gen',
    [E_LOST_SAMPLES]: 'lost_samples',
    [E_EPOLL]: 'epoll',
    [E_COUNT]: 'count',
  },
  map: { [M_STATE]: 'state', [M_REFCNT]: 'refcnt', [M_USERCNT]: 'usercnt', [M_FROZEN]: 'frozen' },
  entry: {
    [EE_STATE]: 'state',
    [EE_EVENT]: 'event',
    [EE_PERF_FILE]: 'perf_file',
    [EE_MAP_FILE]: 'map_file',
    [EE_MAP_FILE_SERIAL]: 'owner',
    [EE_GEN]: 'gen',
  },
  prog: { [P_STATE]: 'state', [P_REFCNT]: 'refcnt' },
  cpu: { [C_NEST]: 'nest', [C_OUTPUTS]: 'outputs', [C_LOST]: 'lost', [C_OFFLINE]: 'offline' },
};
const RCU_NAMES: Record<number, string> = {
  [RCU_GP_SEQ]: 'gp_seq',
  [RCU_GP_REQ]: 'gp_req',
  [RCU_Q_HEAD]: 'cb_head',
  [RCU_Q_TAIL]: 'cb_tail',
  [RCU_WAKE]: 'wake',
};
const READER_NAMES: Record<number, string> = { [RC_NESTING]: 'nesting', [RC_CTR]: 'qs_ctr', [RC_SNAP]: 'gp_snap' };
const RING_NAMES: Record<number, string> = {
  [RB_DATA_HEAD]: 'data_head',
  [RB_DATA_TAIL]: 'data_tail',
  [RB_POLL]: 'poll',
  [RB_HEAD]: 'head',
  [RB_LOST]: 'lost',
  [RB_PAUSED]: 'paused',
  [RB_OVERWRITE]: 'overwrite',
};

/** `i32`, when given, lets a slot word be named by its map ("map 0 slot 1") */
export function describeWord(L: Layout, i: number, i32?: Int32Array): string {
  const p = wordPlace(L, i);
  switch (p.region) {
    case 'header':
      return `header[${i}]`;
    case 'slot': {
      const s = i32 ? slotPlace(L, i32, i) : null;
      return s ? `map ${s.map} slot ${s.index}` : `slot word ${p.index}`;
    }
    case 'rcu':
      return `rcu ${RCU_NAMES[p.field] ?? p.field}`;
    case 'rcu reader':
      return `rcu ${p.index < L.cpus ? `cpu${p.index}` : `task${p.index - L.cpus}`} .${READER_NAMES[p.field] ?? p.field}`;
    case 'ring page':
      return `ring page ${p.index} ${RING_NAMES[p.field] ?? `word ${p.field}`}`;
    case 'other':
      return `word ${i}`;
    default: {
      const names = FIELD_NAMES[p.region];
      return names ? `${p.region} ${p.index} .${names[p.field] ?? p.field}` : `word ${i}`;
    }
  }
}
