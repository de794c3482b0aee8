/**
 * PROPERTIES: UTF-8 text of `name 0x01 value 0x02` pairs, RocketMQ's
 * messageProperties2String. The codec appends the reserved record CRC
 * property (`__CRC32#`, see message-layout.ts) after the user's pairs; this
 * module handles the user's pairs only.
 *
 * Rules, checked on encode (ERR_INVALID_ARGUMENT) and on decode (corrupt):
 * names are non-empty; names and values are strings without 0x01 or 0x02;
 * the name `__CRC32#` is reserved; no name appears twice. On encode, text
 * with a lone UTF-16 surrogate is refused too, since UTF-8 cannot carry it
 * and it would not read back the same.
 */
import { CommitLogError } from '../errors.js';
import { describe } from './describe.js';
import { NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR, RECORD_CRC_PROPERTY_NAME } from './message-layout.js';

/** A UTF-16 surrogate without its other half. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether `text` has a separator (0x01, 0x02) or a lone surrogate. A char
 * loop, with the regex only when a surrogate shows up: names and values are
 * short, and one regex test costs about what a 40-char loop does.
 */
export function hasForbiddenText(text: string): boolean {
  let surrogate = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === NAME_VALUE_SEPARATOR || c === PROPERTY_SEPARATOR) return true;
    if ((c & 0xf800) === 0xd800) surrogate = true;
  }
  return surrogate && LONE_SURROGATE.test(text);
}

const NAME_VALUE_SEPARATOR_CHAR = String.fromCharCode(NAME_VALUE_SEPARATOR);
const PROPERTY_SEPARATOR_CHAR = String.fromCharCode(PROPERTY_SEPARATOR);

/**
 * The user's pairs as PROPERTIES text, in the object's own key order. `''`
 * for undefined or an empty object. Throws ERR_INVALID_ARGUMENT for a name
 * or value breaking the rules above.
 */
export function encodeProperties(properties: Readonly<Record<string, string>> | undefined): string {
  if (properties === undefined) return '';
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) {
    throw new CommitLogError('ERR_INVALID_ARGUMENT', `properties must be an object of strings, got ${describe(properties)}`);
  }
  let text = '';
  for (const name of Object.keys(properties)) {
    const value = properties[name];
    if (name === '' || hasForbiddenText(name)) {
      throw new CommitLogError(
        'ERR_INVALID_ARGUMENT',
        `property name ${describe(name)} must be non-empty, without \\u0001, \\u0002 or a lone surrogate`,
      );
    }
    if (name === RECORD_CRC_PROPERTY_NAME) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `property name ${RECORD_CRC_PROPERTY_NAME} is reserved for the record CRC`);
    }
    if (typeof value !== 'string' || hasForbiddenText(value)) {
      throw new CommitLogError(
        'ERR_INVALID_ARGUMENT',
        `property ${describe(name)} must have a string value without \\u0001, \\u0002 or a lone surrogate, got ${describe(value)}`,
      );
    }
    text += name + NAME_VALUE_SEPARATOR_CHAR + value + PROPERTY_SEPARATOR_CHAR;
  }
  return text;
}

/** The parsed pairs, or (a string) why the bytes are not valid properties. */
export type ParsedProperties = Readonly<Record<string, string>> | string;

/**
 * What a message without properties decodes to: one frozen object for all
 * of them. A prototype-less object is a dictionary in V8 (~150 bytes), and
 * a scan of messages without properties allocated one per message: 40 % of
 * its garbage.
 */
export const NO_PROPERTIES: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);

/**
 * Parses the user's pairs from `source[start..end)`. The object has no
 * prototype, so any name (even `__proto__`) is an ordinary key. A corrupt
 * range gives the reason as a string instead (no wrapper object: a scan
 * parses a million of these a second).
 */
export function decodeProperties(source: Buffer, start: number, end: number): ParsedProperties {
  if (start === end) return NO_PROPERTIES;
  const properties = Object.create(null) as Record<string, string>;
  const text = source.toString('utf8', start, end);
  let i = 0;
  while (i < text.length) {
    const separator = text.indexOf(NAME_VALUE_SEPARATOR_CHAR, i);
    const terminator = text.indexOf(PROPERTY_SEPARATOR_CHAR, i);
    if (terminator === -1) return 'property not terminated by \\u0002';
    if (separator === -1 || separator > terminator) return 'property without \\u0001 between name and value';
    const name = text.slice(i, separator);
    if (name === '') return 'property with an empty name';
    if (name === RECORD_CRC_PROPERTY_NAME) return `${RECORD_CRC_PROPERTY_NAME} property before the end of the record`;
    if (name in properties) return `property ${describe(name)} appears twice`;
    const value = text.slice(separator + 1, terminator);
    if (value.includes(NAME_VALUE_SEPARATOR_CHAR)) return `property ${describe(name)} has two \\u0001`;
    properties[name] = value;
    i = terminator + 1;
  }
  return properties;
}
