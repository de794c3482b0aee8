/** Prints rows as an aligned plain-text table (readable in a terminal and in CI logs). */
export type Row = Record<string, string | number>;

function cell(value: string | number): string {
  if (typeof value === 'string') return value;
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toFixed(3);
}

export function formatTable(rows: readonly Row[]): string {
  if (rows.length === 0) return '(no rows)';
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const text = rows.map((row) => columns.map((column) => (row[column] === undefined ? '' : cell(row[column]!))));
  const widths = columns.map((column, index) => Math.max(column.length, ...text.map((line) => line[index]!.length)));
  const line = (values: string[]) => values.map((value, index) => value.padEnd(widths[index]!)).join('  ').trimEnd();
  return [line(columns), line(widths.map((width) => '-'.repeat(width))), ...text.map(line)].join('\n');
}

/** Formats a ratio as a percentage. */
export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(0)} %`;
}
