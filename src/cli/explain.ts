/** `perfemu explain`: the perf event array's ops table on each kernel version (the fix, read as a table). */
import { table } from '../format.js';
import {
  perf_event_array_map_ops,
  perf_event_array_map_ops_strict,
  perf_event_array_map_ops_v47,
  perf_event_array_map_ops_v48,
} from '../kernel/bpf/arraymap.js';
import { command } from './command.js';

export const explain = command({
  name: 'explain',
  summary: "the perf event array's ops table on each kernel version (the fix, read as a table)",
  options: { json: { type: 'flag', help: 'print JSON' } },
  run(o) {
    const tables = [perf_event_array_map_ops_v47, perf_event_array_map_ops_v48, perf_event_array_map_ops, perf_event_array_map_ops_strict];
    const members = [
      'map_release',
      'map_free',
      'map_fd_get_ptr',
      'map_fd_put_ptr',
      'map_update_elem',
      'map_delete_elem',
      'map_lookup_elem',
      'map_get_next_key',
    ] as const;
    const name = (t: (typeof tables)[number], m: (typeof members)[number]): string | null => (t[m] as { name?: string } | undefined)?.name ?? null;
    if (o.json)
      console.log(
        JSON.stringify(
          { command: 'explain', tables: tables.map((t) => ({ name: t.name, ops: Object.fromEntries(members.map((m) => [m, name(t, m)])) })) },
          null,
          2,
        ),
      );
    else console.log(table([['member', '4.7', '4.8', '5.10 / 6.18', 'strict (perfemu)'], ...members.map((m) => [m, ...tables.map((t) => name(t, m) ?? '-')])]));
    return 0;
  },
});
