/**
 * BORNHOST and STOREHOST: a socket address stored as its address bytes in
 * network order (4 for IPv4, 16 for IPv6) followed by the port as an int32.
 * Which width a record uses is told by SYSFLAG (BORNHOST_V6_FLAG,
 * STOREHOSTADDRESS_V6_FLAG), which the encoder sets from the address family.
 *
 * Text forms: IPv4 is dotted decimal; IPv6 is read in any RFC 4291 text form
 * (embedded IPv4 tail included, zone ids refused since they cannot be
 * stored) and written back in the RFC 5952 form (lowercase, no leading
 * zeros, the longest run of two or more zero groups as `::`), so
 * `0:0:0:0:0:0:0:1` reads back as `::1`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { CommitLogError } from '../errors.js';
import { remember } from './bounded-map.js';
import { describe } from './describe.js';

/** A host as the user gives it and as a decoded record returns it. */
export interface SocketAddress {
  /** IPv4 (`'10.0.0.1'`) or IPv6 (`'fe80::1'`) text. */
  readonly address: string;
  /** 0..65535, stored as an int32. */
  readonly port: number;
}

/** The default BORNHOST and STOREHOST. */
export const DEFAULT_HOST: SocketAddress = Object.freeze({ address: '127.0.0.1', port: 0 });

/** An address's stored bytes: 4 (IPv4) or 16 (IPv6), network order. Never mutated once cached. */
export interface EncodedAddress {
  readonly bytes: Uint8Array;
  readonly v6: boolean;
}

/** Encoded addresses kept by their text; hosts repeat, so this is nearly always a hit. */
const ENCODED_ADDRESS_CACHE_ENTRIES_MAX = 256;
const encodedAddressCache = new Map<string, EncodedAddress>();

/** Decoded IPv4 hosts kept by address * 65536 + port (below 2^48, exact). */
const DECODED_HOST_CACHE_ENTRIES_MAX = 1024;
const decodedV4HostCache = new Map<number, SocketAddress>();

/**
 * Validates a user's host and returns its address bytes. Throws
 * ERR_INVALID_ARGUMENT naming `argumentName` for anything that is not an
 * object with an IPv4/IPv6 `address` and an integer `port` in 0..65535.
 */
export function encodeHostAddress(host: SocketAddress, argumentName: string): EncodedAddress {
  if (typeof host !== 'object' || host === null) {
    throw new CommitLogError('ERR_INVALID_ARGUMENT', `${argumentName} must be { address, port }, got ${describe(host)}`);
  }
  const { address, port } = host;
  if (typeof port !== 'number' || (port & 0xffff) !== port) {
    throw new CommitLogError('ERR_INVALID_ARGUMENT', `${argumentName}.port must be an integer in 0..65535, got ${describe(port)}`);
  }
  if (typeof address !== 'string') {
    throw new CommitLogError('ERR_INVALID_ARGUMENT', `${argumentName}.address must be a string, got ${describe(address)}`);
  }
  const cached = encodedAddressCache.get(address);
  if (cached !== undefined) return cached;
  let encoded: EncodedAddress;
  if (isIPv4(address)) {
    encoded = { bytes: parseIPv4(address), v6: false };
  } else if (isIPv6(address) && !address.includes('%')) {
    encoded = { bytes: parseIPv6(address), v6: true };
  } else {
    throw new CommitLogError(
      'ERR_INVALID_ARGUMENT',
      `${argumentName}.address must be IPv4 or IPv6 text without a zone id, got ${describe(address)}`,
    );
  }
  return remember(encodedAddressCache, address, encoded, ENCODED_ADDRESS_CACHE_ENTRIES_MAX);
}

/** Reads a stored IPv4 host (4 address bytes + int32 port) at `position`. Returns undefined for a port outside 0..65535. */
export function decodeIPv4Host(source: Uint8Array, position: number): SocketAddress | undefined {
  const address =
    ((source[position]! << 24) | (source[position + 1]! << 16) | (source[position + 2]! << 8) | source[position + 3]!) >>> 0;
  const port = readInt32(source, position + 4);
  if ((port & 0xffff) !== port) return undefined;
  // Runs of records mostly share their hosts: the last two decoded are kept at hand.
  // (a record's born host and store host alternate, hence two).
  if (address === lastAddress && port === lastPort) return lastHost;
  if (address === previousAddress && port === previousPort) return previousHost;
  const key = address * 65536 + port;
  const found = decodedV4HostCache.get(key) ?? rememberV4(key, address, port);
  previousAddress = lastAddress;
  previousPort = lastPort;
  previousHost = lastHost;
  lastAddress = address;
  lastPort = port;
  lastHost = found;
  return found;
}

const NO_HOST: SocketAddress = Object.freeze({ address: '', port: -1 });
let lastAddress = -1;
let lastPort = -1;
let lastHost = NO_HOST;
let previousAddress = -1;
let previousPort = -1;
let previousHost = NO_HOST;

function rememberV4(key: number, address: number, port: number): SocketAddress {
  const cached = decodedV4HostCache.get(key);
  if (cached !== undefined) return cached;
  const text = `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
  return remember(decodedV4HostCache, key, Object.freeze({ address: text, port }), DECODED_HOST_CACHE_ENTRIES_MAX);
}

/** Reads a stored IPv6 host (16 address bytes + int32 port) at `position`. Returns undefined for a port outside 0..65535. */
export function decodeIPv6Host(source: Uint8Array, position: number): SocketAddress | undefined {
  const port = readInt32(source, position + 16);
  if ((port & 0xffff) !== port) return undefined;
  return Object.freeze({ address: formatIPv6(source, position), port });
}

function readInt32(source: Uint8Array, position: number): number {
  return (source[position]! << 24) | (source[position + 1]! << 16) | (source[position + 2]! << 8) | source[position + 3]!;
}

/** Dotted decimal to 4 bytes; the text was checked by net.isIPv4. */
function parseIPv4(text: string): Uint8Array {
  const bytes = new Uint8Array(4);
  const parts = text.split('.');
  for (let i = 0; i < 4; i++) bytes[i] = Number(parts[i]);
  return bytes;
}

/** RFC 4291 text to 16 bytes; the text was checked by net.isIPv6 and holds no zone id. */
function parseIPv6(text: string): Uint8Array {
  const groups: number[] = [];
  const toGroups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const v4 = parseIPv4(piece);
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const gap = text.indexOf('::');
  if (gap === -1) {
    groups.push(...toGroups(text));
  } else {
    const head = toGroups(text.slice(0, gap));
    const tail = toGroups(text.slice(gap + 2));
    groups.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  }
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const group = groups[i] ?? 0;
    bytes[2 * i] = group >>> 8;
    bytes[2 * i + 1] = group & 0xff;
  }
  return bytes;
}

/** 16 bytes to RFC 5952 text. */
function formatIPv6(source: Uint8Array, position: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((source[position + 2 * i]! << 8) | source[position + 2 * i + 1]!);
  // The longest run of zero groups, at least two long, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}
