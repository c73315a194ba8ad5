/**
 * Input generators shared by the fuzz targets: arbitrary bytes and text (unicode, lone
 * surrogates, control characters), huge inputs up to the payload limit (long digit and
 * whitespace runs, many keys, many lines, deep nesting), huge numbers, and near-valid
 * inputs: a valid payload with one mutation (a byte or character deleted, inserted,
 * replaced, duplicated, truncated).
 */
import fc from 'fast-check';

/** limits.max_payload's default: the largest payload a decoder is handed. */
export const PAYLOAD_LIMIT = 256 * 1024;

/** Single UTF-16 code units of any value, lone surrogates included. */
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const control = fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c));
const delimiters = fc.constantFrom(
  ' ',
  ',',
  '=',
  '"',
  '\\',
  '\n',
  '\r',
  '\t',
  '{',
  '}',
  '[',
  ']',
  ':',
  '/',
  '#',
  '+',
  '$',
  '.',
  '-',
  'e',
  '0',
  '9',
  '\u0000',
  '\ufeff',
);

/** Text mixing everything that tends to break parsers. */
export const nastyText = (maxLength = 64): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: anyCodeUnit, maxLength }),
    fc.string({ unit: fc.oneof(control, delimiters, fc.constantFrom('a', 'é', '😀', '\u200b', '١')), maxLength }),
  );

/** Any bytes (mostly short, some up to 4 KiB). */
export const anyBytes: fc.Arbitrary<Buffer> = fc
  .oneof({ weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4096 }) })
  .map((a) => Buffer.from(a));

/** Number literals beyond what a double holds, or at its edges. */
export const hugeNumber: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '1e400',
    '-1e400',
    '1e-400',
    '1e309',
    '4.9e-324',
    '1.7976931348623157e308',
    '9223372036854775807',
    '9223372036854775808',
    '-9223372036854775809',
    '18446744073709551616',
    '123456789012345678901234567890',
    '0.000000000000000000000000000001',
    '-0',
    '00012',
    '1E+2',
  ),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }).map(String),
  fc.integer({ min: 1, max: 2000 }).map((n) => '9'.repeat(n)),
  fc.integer({ min: 1, max: 2000 }).map((n) => '0.' + '0'.repeat(n) + '1'),
  fc.tuple(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: -999, max: 999 })).map(([d, e]) => `${d}e${e}`),
);

/** A number literal, plain or huge. */
export const numberLiteral: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map(String) },
  { weight: 3, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.constantFrom('1700000000', '1700000000000', '1700000000000000', '1700000000000000000', '1700000000.123456789') },
  { weight: 2, arbitrary: hugeNumber },
);

/** Keys that decoders and rules look at, mixed with random ones. */
export const jsonKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'a',
    'b',
    'ts',
    'time',
    'count',
    'temperature',
    'meta',
    'value',
    '',
    '__proto__',
    'constructor',
    'a_b',
    'a.b',
    'Time',
    'StatusSNS',
    'ENERGY',
    'params',
    'method',
  ),
  nastyText(8),
);

/** JSON text (objects mostly), numbers written as literals so huge ones survive. */
export const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string; object: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    numberLiteral,
    fc.constantFrom('true', 'false', 'null'),
    nastyText(12).map((s) => JSON.stringify(s)),
    tie('object'),
    fc.array(tie('value'), { maxLength: 4 }).map((a) => `[${a.join(',')}]`),
  ),
  object: fc.array(fc.tuple(jsonKey, tie('value')), { maxLength: 6 }).map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
})).object;

/** One mutation of `s`: delete, insert, replace, duplicate a slice, truncate, or swap two characters. */
export function mutateText(s: string): fc.Arbitrary<string> {
  const n = s.length;
  const at = fc.integer({ min: 0, max: n });
  const ch = fc.oneof(
    fc.constantFrom('"', '{', '}', ',', ':', ' ', '\n', '\\', '=', '0', '-', '.', 'e', 'i', '\u0000', '\ud800'),
    fc.string({ minLength: 1, maxLength: 3, unit: 'binary' }),
  );
  const opts = [
    fc.tuple(at, ch).map(([i, c]) => s.slice(0, i) + c + s.slice(i)),
    at.map((i) => s.slice(0, i)),
    fc.tuple(at, at).map(([i, j]) => s.slice(0, Math.min(i, j)) + s.slice(Math.min(i, j), Math.max(i, j)).repeat(2) + s.slice(Math.max(i, j))),
  ];
  if (n > 0) {
    const idx = fc.integer({ min: 0, max: n - 1 });
    opts.push(
      idx.map((i) => s.slice(0, i) + s.slice(i + 1)),
      fc.tuple(idx, ch).map(([i, c]) => s.slice(0, i) + c + s.slice(i + 1)),
      fc.tuple(idx, idx).map(([i, j]) => {
        const a = [...s];
        const t = a[i] as string;
        a[i] = a[j] as string;
        a[j] = t;
        return a.join('');
      }),
    );
  }
  return fc.oneof(...opts);
}

/** One mutation of a byte string: a bit flipped, a byte inserted/removed/replaced, truncated, doubled. */
export function mutateBytes(b: Buffer): fc.Arbitrary<Buffer> {
  const n = b.length;
  const at = fc.integer({ min: 0, max: n });
  const byte = fc.integer({ min: 0, max: 255 });
  const opts: fc.Arbitrary<Buffer>[] = [
    fc.tuple(at, byte).map(([i, x]) => Buffer.concat([b.subarray(0, i), Buffer.from([x]), b.subarray(i)])),
    at.map((i) => b.subarray(0, i)),
    fc.constant(Buffer.concat([b, b])),
    fc.tuple(at, anyBytes).map(([i, junk]) => Buffer.concat([b.subarray(0, i), junk, b.subarray(i)])),
  ];
  if (n > 0) {
    const idx = fc.integer({ min: 0, max: n - 1 });
    opts.push(
      idx.map((i) => Buffer.concat([b.subarray(0, i), b.subarray(i + 1)])),
      fc.tuple(idx, fc.integer({ min: 0, max: 7 })).map(([i, bit]) => {
        const c = Buffer.from(b);
        c[i] = (c[i] as number) ^ (1 << bit);
        return c;
      }),
      fc.tuple(idx, byte).map(([i, x]) => {
        const c = Buffer.from(b);
        c[i] = x;
        return c;
      }),
    );
  }
  return fc.oneof(...opts);
}

/** A valid text from `valid`, mutated once. */
export const nearValid = (valid: fc.Arbitrary<string>): fc.Arbitrary<string> => valid.chain((s) => mutateText(s));

/** Deeply nested JSON (objects, arrays or both), up to 20,000 levels. */
export const deepJson: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 30, max: 20_000 }), fc.constantFrom('obj', 'arr', 'mixed', 'open'))
  .map(([depth, kind]) => {
    if (kind === 'arr') return '{"a":' + '['.repeat(depth) + '1' + ']'.repeat(depth) + '}';
    if (kind === 'open') return '{"a":'.repeat(depth) + '1';
    if (kind === 'obj') return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    return '{"a":[{"b":'.repeat(depth >> 1) + '2' + '}]'.repeat(depth >> 1) + '}';
  });

/**
 * Inputs near the payload limit built to hit slow paths: long runs of digits, spaces or
 * one character followed by a breaker, many keys, many lines.
 */
export const hugeText: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('1', ' ', '_', '0', 'a', '\\', '"', ',', '.', '{"a":1,', '\n', 'm f=1\n', 'm,t=1 f=1i 1\n', '-', '$', 'e', ';', '='),
    fc.integer({ min: 1_000, max: PAYLOAD_LIMIT }),
    fc.constantFrom('', 'x', '1', ' x', '}', '\n', '.x', 'e', '\u0000', '"'),
    fc.constantFrom('', '{"a":', '-', ' ', '"', '$GPGGA,', 'm f='),
  )
  .map(([unit, size, tail, head]) => {
    const body = unit.repeat(Math.max(1, Math.floor((size - head.length - tail.length) / unit.length)));
    return head + body + tail;
  });

/** A JSON object with many distinct keys, near the payload limit. */
export const manyKeysJson: fc.Arbitrary<string> = fc.integer({ min: 100, max: 15_000 }).map((n) => {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(`"k${i}":${i % 3 === 0 ? i : i % 3 === 1 ? `${i}.5` : '"s"'}`);
  return `{${parts.join(',')}}`;
});

/** Text payloads of every kind: random, structured, mutated, deep, huge. */
export function textPayload(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: valid },
    { weight: 6, arbitrary: nearValid(valid) },
    { weight: 2, arbitrary: nastyText(128) },
    { weight: 1, arbitrary: jsonText },
    { weight: 1, arbitrary: deepJson },
    { weight: 1, arbitrary: hugeText },
    { weight: 1, arbitrary: hugeNumber },
  );
}

/** Short description of an input for reports: JSON-quoted, clipped. */
export function show(x: unknown, max = 160): string {
  let s: string;
  if (Buffer.isBuffer(x)) s = `<${x.length} bytes> ${x.subarray(0, max / 2).toString('hex')}`;
  else
    s =
      JSON.stringify(x, (_k, v: unknown) =>
        typeof v === 'bigint' ? `${v}n` : isBufferJson(v) ? `<${v.data.length} bytes> ${Buffer.from(v.data.slice(0, 48)).toString('hex')}` : v,
      ) ?? String(x);
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}

function isBufferJson(v: unknown): v is { type: 'Buffer'; data: number[] } {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data);
}

/** Names with the characters line protocol escapes, and unicode. */
export const lpName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('m', 'cpu', 'temp', 'a b', 'a,b', 'a=b', 'x\\', '\\', 'a\\,b', '#c', 'é😀', 'n\nl', 'r\r', '"q"', ' lead', 'tab\t'),
  nastyText(10),
);

/** A field value of every type, at the edges of its range. */
export const fieldValueArb = fc.oneof(fc.double(), fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }), fc.boolean(), nastyText(16));

/** Readings as a decoder could produce them (and some it could not: NaN, bigint beyond int64). */
export const readingArb = fc.record({
  measurement: lpName,
  tags: fc.dictionary(lpName, lpName, { maxKeys: 4 }),
  fields: fc.dictionary(lpName, fieldValueArb, { minKeys: 1, maxKeys: 4 }),
  time: fc.bigInt({ min: -9223372036854775806n, max: 9223372036854775806n }),
});

/** Hand-written valid line protocol lines, then joined. */
const lpLine = fc
  .tuple(
    fc.constantFrom('m', 'cpu', 'weather', 'a\\ b', 'a\\,b'),
    fc.array(fc.tuple(fc.constantFrom('host', 't', 'k\\=x', 'loc'), fc.constantFrom('a', 'b\\ c', 'x\\,y', '1')), { maxLength: 3 }),
    fc.array(
      fc.tuple(
        fc.constantFrom('f', 'value', 'g', 'x\\ y'),
        fc.oneof(
          numberLiteral,
          fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map((b) => `${b}i`),
          fc.nat().map((n) => `${n}u`),
          fc.constantFrom('t', 'F', 'true', 'FALSE', '"s"', '"a\\"b"', '"multi\nline"', '""'),
        ),
      ),
      { minLength: 1, maxLength: 3 },
    ),
    fc.option(fc.oneof(fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map(String), fc.constantFrom('1700000000000000000', '0', '-1')), { nil: undefined }),
  )
  .map(
    ([m, tags, fields, ts]) =>
      `${m}${tags.map(([k, v]) => `,${k}=${v}`).join('')} ${fields.map(([k, v]) => `${k}=${v}`).join(',')}${ts === undefined ? '' : ` ${ts}`}`,
  );

export const lineProtocolText: fc.Arbitrary<string> = fc
  .array(fc.oneof({ weight: 5, arbitrary: lpLine }, { weight: 1, arbitrary: fc.constantFrom('', '# comment', '   ', '\r') }), { minLength: 1, maxLength: 5 })
  .map((lines) => lines.join('\n'));
