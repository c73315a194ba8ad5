import { describe, expect, it } from 'vitest';
import { utf8Text } from '../../src/devices/utf8.js';

describe('utf8Text', () => {
  it('decodes valid UTF-8 (a payload may hold U+FFFD itself), refuses invalid bytes, drops a BOM', () => {
    expect(utf8Text(Buffer.from('{"a":1}'))).toBe('{"a":1}');
    expect(utf8Text(Buffer.from('temp \ufffd ok'))).toBe('temp \ufffd ok');
    expect(utf8Text(Buffer.from('\ufeff21.5'))).toBe('21.5');
    expect(utf8Text(Buffer.from([0x7b, 0xff, 0x7d]))).toBeUndefined();
    expect(utf8Text(Buffer.from([0xe2, 0x82]))).toBeUndefined(); // truncated sequence
    expect(utf8Text(Buffer.from([0xed, 0xa0, 0x80]))).toBeUndefined(); // an encoded surrogate
  });
});
