/** Plain-text formatting shared by the command line, the report and the benchmarks. */

/** 1234567 -> "1,234,567" */
export function count(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

/** rows of cells as an aligned table, the first row a heading underlined with dashes */
export function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r, n) => {
      const line = r
        .map((c, i) => c.padEnd(w[i]!))
        .join('  ')
        .trimEnd();
      return n === 0 ? `${line}\n${w.map((x) => '-'.repeat(x)).join('  ')}` : line;
    })
    .join('\n');
}
