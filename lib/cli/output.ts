/**
 * Output helpers: writes that respect back-pressure (a dump piped into a
 * slow reader must not buffer the whole store in memory), aligned tables,
 * and the two renderings of a message (a table row, a JSON object).
 */
import { isUtf8 } from 'node:buffer';
import type { StoredMessage } from '../index.js';

/** Writes `text` to `stream`, waiting for 'drain' when its buffer is full. */
export async function write(text: string, stream: NodeJS.WritableStream = process.stdout): Promise<void> {
  if (stream.write(text)) return;
  await new Promise<void>((resolve) => stream.once('drain', resolve));
}

export function line(text: string): Promise<void> {
  return write(`${text}\n`);
}

/** One JSON document, pretty-printed, on stdout. */
export function printJson(value: unknown): Promise<void> {
  return write(`${JSON.stringify(value, null, 2)}\n`);
}

/** One JSON object on one line (NDJSON), on stdout. */
export function printJsonLine(value: unknown): Promise<void> {
  return write(`${JSON.stringify(value)}\n`);
}

/** A line on stderr (warnings, notes); never mixed into stdout's data. */
export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}

export interface Column {
  readonly header: string;
  readonly align?: 'left' | 'right';
  /** Width to start from before any row is seen (streamed tables). */
  readonly minWidth?: number;
}

function pad(text: string, width: number, align: 'left' | 'right' | undefined): string {
  return align === 'right' ? text.padStart(width) : text.padEnd(width);
}

function renderRow(columns: readonly Column[], widths: readonly number[], cells: readonly string[]): string {
  const last = columns.length - 1;
  return cells
    .map((cell, index) => (index === last && columns[index]!.align !== 'right' ? cell : pad(cell, widths[index]!, columns[index]!.align)))
    .join('  ')
    .trimEnd();
}

/** An aligned table: a header line, then one line per row; two spaces between columns. */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const widths = columns.map((column, index) => Math.max(column.header.length, column.minWidth ?? 0, ...rows.map((row) => (row[index] ?? '').length)));
  return [renderRow(columns, widths, columns.map((column) => column.header)), ...rows.map((row) => renderRow(columns, widths, row))];
}

/**
 * A table printed as rows arrive: the first `bufferRows` rows set the
 * column widths (then the header and they are printed), later rows use the
 * same widths (a longer cell just pushes its line out). With bufferRows 0
 * every row prints at once, widths from the headers and minWidths.
 */
export class TableStream {
  private pending: string[][] = [];
  private widths: number[] | undefined;

  constructor(
    private readonly columns: readonly Column[],
    private readonly bufferRows: number,
  ) {}

  async row(cells: string[]): Promise<void> {
    if (this.widths === undefined) {
      this.pending.push(cells);
      if (this.pending.length > this.bufferRows) await this.flush();
      return;
    }
    await line(renderRow(this.columns, this.widths, cells));
  }

  /** Prints what is buffered (and the header, once). */
  async flush(): Promise<void> {
    if (this.widths === undefined) {
      if (this.pending.length === 0) return;
      const lines = formatTable(this.columns, this.pending);
      this.widths = this.columns.map((column, index) => Math.max(column.header.length, column.minWidth ?? 0, ...this.pending.map((row) => (row[index] ?? '').length)));
      this.pending = [];
      await write(`${lines.join('\n')}\n`);
    }
  }
}

/** ms since the epoch as ISO-8601 UTC; "-" for 0 (not set). */
export function formatTime(ms: number): string {
  if (ms === 0) return '-';
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

/** Bytes shown in a preview at most. */
export const BODY_PREVIEW_CHARS = 40;

/** A short, one-line picture of a body: quoted text when it is printable UTF-8, else hex. */
export function previewBody(body: Buffer, maxChars = BODY_PREVIEW_CHARS): string {
  if (body.length === 0) return '""';
  if (isUtf8(body)) {
    const text = body.toString('utf8');
    // eslint-disable-next-line no-control-regex
    if (!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(text)) {
      const shown = text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
      return JSON.stringify(shown);
    }
  }
  const bytes = Math.floor(maxChars / 2);
  return `0x${body.subarray(0, bytes).toString('hex')}${body.length > bytes ? '…' : ''}`;
}

/**
 * Text from a record shown in a table cell: control characters (a newline
 * would forge a row, an escape sequence would reach the terminal) and
 * backslashes as JSON escapes them; other text as it is.
 */
export function cellText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\\]/g, (char) => CELL_ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const CELL_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** name=value pairs joined by commas; "-" when there are none. */
export function formatProperties(properties: Readonly<Record<string, string>>): string {
  const entries = Object.entries(properties);
  return entries.length === 0 ? '-' : entries.map(([name, value]) => `${cellText(name)}=${cellText(value)}`).join(',');
}

/** The columns of dump and tail. */
export const MESSAGE_COLUMNS: readonly Column[] = [
  { header: 'OFFSET', align: 'right', minWidth: 8 },
  { header: 'SIZE', align: 'right', minWidth: 5 },
  { header: 'TOPIC', minWidth: 8 },
  { header: 'QUEUE', align: 'right' },
  { header: 'QOFFSET', align: 'right' },
  { header: 'BORN', minWidth: 24 },
  { header: 'STORED', minWidth: 24 },
  { header: 'PROPERTIES', minWidth: 10 },
  { header: 'BODY' },
];

export function messageRow(message: StoredMessage): string[] {
  return [
    String(message.physicalOffset),
    String(message.size),
    cellText(message.topic),
    String(message.queueId),
    String(message.queueOffset),
    formatTime(message.bornTimestamp),
    formatTime(message.storeTimestamp),
    formatProperties(message.properties),
    `${previewBody(message.body)} (${message.body.length} B)`,
  ];
}

/** A message as JSON: every field, the body in base64. */
export function messageJson(message: StoredMessage): Record<string, unknown> {
  return {
    kind: 'message',
    physicalOffset: message.physicalOffset,
    size: message.size,
    topic: message.topic,
    queueId: message.queueId,
    queueOffset: message.queueOffset,
    flag: message.flag,
    sysFlag: message.sysFlag,
    bornTimestamp: message.bornTimestamp,
    bornHost: `${message.bornHost.address.includes(':') ? `[${message.bornHost.address}]` : message.bornHost.address}:${message.bornHost.port}`,
    storeTimestamp: message.storeTimestamp,
    storeHost: `${message.storeHost.address.includes(':') ? `[${message.storeHost.address}]` : message.storeHost.address}:${message.storeHost.port}`,
    reconsumeTimes: message.reconsumeTimes,
    preparedTransactionOffset: message.preparedTransactionOffset,
    bodyCrc: message.bodyCrc,
    properties: { ...message.properties },
    bodyBytes: message.body.length,
    body: message.body.toString('base64'),
  };
}
