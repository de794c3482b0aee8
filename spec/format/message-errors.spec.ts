import { describe, expect, it } from 'vitest';
import { CommitLogError, type CommitLogErrorCode } from '../../lib/errors.js';
import { encodeBlank, encodeMessage, prepareMessage, type MessageInput } from '../../lib/format/index.js';

const MAX = 64 * 1024;
const ok: MessageInput = { topic: 't', body: Buffer.from('b') };

function expectCode(fn: () => unknown, code: CommitLogErrorCode, mentions?: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(CommitLogError);
  expect((thrown as CommitLogError).code).toBe(code);
  if (mentions !== undefined) expect((thrown as CommitLogError).message).toContain(mentions);
}

/** prepareMessage with one field changed, bypassing the types as a JS caller could. */
function prepareWith(change: Record<string, unknown>, maxMessageSize = MAX): unknown {
  return prepareMessage({ ...ok, ...change } as unknown as MessageInput, maxMessageSize);
}

describe('prepareMessage rejects bad input with ERR_INVALID_ARGUMENT, naming the field', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['topic', { topic: '' }],
    ['topic', { topic: 42 }],
    ['topic', { topic: undefined }],
    ['topic', { topic: 'bad\uD800surrogate' }],
    ['topic', { topic: 'x'.repeat(32768) }],
    ['topic', { topic: 'é'.repeat(16384) }], // 32768 bytes
    ['body', { body: 'a string' }],
    ['body', { body: [1, 2, 3] }],
    ['body', { body: new ArrayBuffer(4) }],
    ['queueId', { queueId: -1 }],
    ['queueId', { queueId: 2 ** 31 }],
    ['queueId', { queueId: 1.5 }],
    ['queueId', { queueId: NaN }],
    ['queueId', { queueId: '1' }],
    ['flag', { flag: 2 ** 31 }],
    ['flag', { flag: -(2 ** 31) - 1 }],
    ['sysFlag', { sysFlag: 'x' }],
    ['sysFlag', { sysFlag: 0.1 }],
    ['bornTimestamp', { bornTimestamp: -1 }],
    ['bornTimestamp', { bornTimestamp: 2 ** 53 }],
    ['bornTimestamp', { bornTimestamp: Infinity }],
    ['reconsumeTimes', { reconsumeTimes: -1 }],
    ['preparedTransactionOffset', { preparedTransactionOffset: -5 }],
    ['preparedTransactionOffset', { preparedTransactionOffset: 1e300 }],
    ['bornHost', { bornHost: null }],
    ['bornHost', { bornHost: '127.0.0.1:80' }],
    ['bornHost.address', { bornHost: { address: 'localhost', port: 1 } }],
    ['bornHost.address', { bornHost: { address: '1.2.3', port: 1 } }],
    ['bornHost.address', { bornHost: { address: '256.0.0.1', port: 1 } }],
    ['bornHost.address', { bornHost: { address: 'fe80::1%eth0', port: 1 } }],
    ['bornHost.address', { bornHost: { address: 7, port: 1 } }],
    ['bornHost.port', { bornHost: { address: '1.2.3.4', port: 65536 } }],
    ['storeHost.port', { storeHost: { address: '1.2.3.4', port: -1 } }],
    ['storeHost.port', { storeHost: { address: '1.2.3.4', port: 1.5 } }],
    ['storeHost.port', { storeHost: { address: '1.2.3.4' } }],
    ['properties', { properties: 'TAGS=a' }],
    ['properties', { properties: null }],
    ['property name', { properties: { '': 'v' } }],
    ['property name', { properties: { 'a\u0001b': 'v' } }],
    ['property name', { properties: { 'a\u0002b': 'v' } }],
    ['property name', { properties: { '\uDC00': 'v' } }],
    ['__CRC32#', { properties: { '__CRC32#': '0000000000' } }],
    ['property "k"', { properties: { k: 'a\u0001' } }],
    ['property "k"', { properties: { k: 'a\u0002' } }],
    ['property "k"', { properties: { k: 5 } }],
    ['property "k"', { properties: { k: undefined } }],
    ['property "k"', { properties: { k: '\uD83D' } }],
  ];
  for (const [field, change] of cases) {
    it(`${field}: ${JSON.stringify(change, (_, v) => (typeof v === 'string' && v.length > 20 ? `${v.slice(0, 8)}…(${v.length})` : v === undefined ? 'undefined' : v))}`, () => {
      expectCode(() => prepareWith(change), 'ERR_INVALID_ARGUMENT', field);
    });
  }

  it('a message that is not an object', () => {
    expectCode(() => prepareMessage(null as unknown as MessageInput, MAX), 'ERR_INVALID_ARGUMENT', 'message');
  });

  it('maxMessageSize that is not an int32 of at least the minimum record', () => {
    for (const max of [0, 90, 1.5, NaN, 2 ** 31, -1]) {
      expectCode(() => prepareMessage(ok, max), 'ERR_INVALID_ARGUMENT', 'maxMessageSize');
    }
  });

  it('accepts a valid surrogate pair, and the extremes of each range', () => {
    expect(() => prepareWith({ topic: '😀', properties: { '😀': '😀' } })).not.toThrow();
    expect(() => prepareWith({ flag: -(2 ** 31), sysFlag: -1, queueId: 2 ** 31 - 1 })).not.toThrow();
  });
});

describe('ERR_MESSAGE_TOO_LARGE', () => {
  it('when the record exceeds maxMessageSize, not before', () => {
    const size = prepareMessage({ topic: 't', body: new Uint8Array(0) }, MAX).size;
    expect(prepareMessage({ topic: 't', body: new Uint8Array(1000 - size) }, 1000).size).toBe(1000);
    expectCode(() => prepareMessage({ topic: 't', body: new Uint8Array(1001 - size) }, 1000), 'ERR_MESSAGE_TOO_LARGE', 'maxMessageSize');
  });

  it('when the body alone exceeds it', () => {
    expectCode(() => prepareMessage({ topic: 't', body: new Uint8Array(MAX + 1) }, MAX), 'ERR_MESSAGE_TOO_LARGE');
  });

  it('when the properties exceed 32747 bytes (32767 with the record CRC property)', () => {
    expect(() => prepareWith({ properties: { k: 'v'.repeat(32747 - 3) } })).not.toThrow();
    expectCode(() => prepareWith({ properties: { k: 'v'.repeat(32748 - 3) } }), 'ERR_MESSAGE_TOO_LARGE', 'properties');
    expectCode(() => prepareWith({ properties: { k: 'é'.repeat(16373) } }), 'ERR_MESSAGE_TOO_LARGE', 'properties');
  });
});

describe('encodeMessage', () => {
  const prepared = prepareMessage(ok, MAX);
  const stamp = { physicalOffset: 0, queueOffset: 0, storeTimestamp: 0 };

  it('ERR_SEGMENT_FULL when the record does not fit, writing nothing', () => {
    const target = Buffer.alloc(prepared.size + 10);
    expectCode(() => encodeMessage(target, 11, prepared, stamp), 'ERR_SEGMENT_FULL');
    expect(target.every((b) => b === 0)).toBe(true);
    expect(encodeMessage(target, 10, prepared, stamp)).toBe(prepared.size);
  });

  it('ERR_INVALID_ARGUMENT for a bad position or stamp, writing nothing', () => {
    const target = Buffer.alloc(prepared.size * 2);
    const bad: [number, Partial<typeof stamp>, string][] = [
      [-1, {}, 'position'],
      [0.5, {}, 'position'],
      [0, { physicalOffset: -1 }, 'physicalOffset'],
      [0, { queueOffset: 2 ** 53 }, 'queueOffset'],
      [0, { storeTimestamp: NaN }, 'storeTimestamp'],
    ];
    for (const [position, change, name] of bad) {
      expectCode(() => encodeMessage(target, position, prepared, { ...stamp, ...change }), 'ERR_INVALID_ARGUMENT', name);
    }
    expect(target.every((b) => b === 0)).toBe(true);
  });
});

describe('encodeBlank', () => {
  it('ERR_INVALID_ARGUMENT for a size below 8, a position without room for the header, or a bad physical offset', () => {
    const target = Buffer.alloc(64);
    for (const size of [7, 0, -8, 1.5, 2 ** 31]) expectCode(() => encodeBlank(target, 0, size, 0), 'ERR_INVALID_ARGUMENT', 'size');
    for (const position of [57, 64, -1]) expectCode(() => encodeBlank(target, position, 8, position), 'ERR_INVALID_ARGUMENT', 'position');
    // 12 bytes and more carry BLANKCRC: the header needs 12 bytes of room.
    expectCode(() => encodeBlank(target, 54, 12, 54), 'ERR_INVALID_ARGUMENT', 'position');
    for (const physicalOffset of [-1, 1.5, 2 ** 53]) expectCode(() => encodeBlank(target, 0, 16, physicalOffset), 'ERR_INVALID_ARGUMENT', 'physicalOffset');
    expect(target.every((b) => b === 0)).toBe(true);
    encodeBlank(target, 56, 8, 56);
  });
});
