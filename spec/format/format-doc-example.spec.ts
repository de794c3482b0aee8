/**
 * docs/FORMAT.md "Worked example": three messages across a segment roll.
 * The offsets printed in the document are asserted here, so the document
 * cannot drift from the code.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeRecord,
  encodeBlank,
  encodeMessage,
  messageFitsInSegment,
  prepareMessage,
  segmentFileName,
  type DecodeResult,
} from '../../lib/format/index.js';

const SEGMENT_SIZE = 1024;
const MAX_MESSAGE_SIZE = SEGMENT_SIZE - 8;

describe('worked example: three messages, a blank record, a segment roll', () => {
  it('places A, B, a blank and C exactly where the document says', () => {
    const segments = [Buffer.alloc(SEGMENT_SIZE), Buffer.alloc(SEGMENT_SIZE)];
    let segmentIndex = 0;
    let position = 0;
    const placed: { name: string; physicalOffset: number; position: number; size: number }[] = [];
    for (const [name, bodyLength] of [['A', 300], ['B', 400], ['C', 200]] as const) {
      const prepared = prepareMessage({ topic: 'TopicTest', body: Buffer.alloc(bodyLength, name), bornTimestamp: 1 }, MAX_MESSAGE_SIZE);
      if (!messageFitsInSegment(prepared.size, SEGMENT_SIZE - position)) {
        encodeBlank(segments[segmentIndex]!, position, SEGMENT_SIZE - position, segmentIndex * SEGMENT_SIZE + position);
        placed.push({ name: 'blank', physicalOffset: segmentIndex * SEGMENT_SIZE + position, position, size: SEGMENT_SIZE - position });
        segmentIndex += 1;
        position = 0;
      }
      const physicalOffset = segmentIndex * SEGMENT_SIZE + position;
      encodeMessage(segments[segmentIndex]!, position, prepared, { physicalOffset, queueOffset: placed.length, storeTimestamp: 2 });
      placed.push({ name, physicalOffset, position, size: prepared.size });
      position += prepared.size;
    }
    expect(placed).toEqual([
      { name: 'A', physicalOffset: 0, position: 0, size: 420 },
      { name: 'B', physicalOffset: 420, position: 420, size: 520 },
      { name: 'blank', physicalOffset: 940, position: 940, size: 84 },
      { name: 'C', physicalOffset: 1024, position: 0, size: 320 },
    ]);
    expect(segments.map((_, i) => segmentFileName(i * SEGMENT_SIZE))).toEqual(['00000000000000000000', '00000000000000001024']);
    expect(segments[0]!.subarray(940, 952).toString('hex')).toBe('00000054cbd431945f3db7a1'); // with BLANKCRC, as docs/FORMAT.md shows

    // A scan reads the same story back.
    const seen: string[] = [];
    for (const [index, segment] of segments.entries()) {
      let at = 0;
      for (let step = 0; step < 10; step++) {
        const result: DecodeResult = decodeRecord(segment, at, SEGMENT_SIZE, {
          verify: true,
          copy: false,
          expectedPhysicalOffset: index * SEGMENT_SIZE + at,
        });
        if (result.kind === 'message') {
          seen.push(`${result.message.body.toString('latin1', 0, 1)}@${result.message.physicalOffset}`);
          at += result.size;
        } else if (result.kind === 'blank') {
          seen.push(`blank@${index * SEGMENT_SIZE + at}+${result.size}`);
          break;
        } else {
          seen.push(`${result.kind}@${index * SEGMENT_SIZE + at}`);
          break;
        }
      }
    }
    expect(seen).toEqual(['A@0', 'B@420', 'blank@940+84', 'C@1024', 'end@1344']);
  });

  it('a record never ends exactly at the segment end: it must leave room for the blank', () => {
    expect(messageFitsInSegment(1016, 1024)).toBe(true);
    expect(messageFitsInSegment(1017, 1024)).toBe(false);
    expect(messageFitsInSegment(1024, 1024)).toBe(false);
  });
});
