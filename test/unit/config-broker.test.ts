import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIssue, parseConfigText } from '../../src/cli/load-config.js';
import { hashPassword } from '../../src/util/passwords.js';

const REST = `rules:
  - { topic: "s/{device}/{measurement}", format: json }
outputs:
  - { id: o, type: influxdb_v1, url: "http://127.0.0.1:8086", database: d }
`;

let dir: string;
let hash: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeflux-cfgbroker-'));
  hash = await hashPassword('pw-12345678', { logN: 10, r: 8, p: 1 });
  await writeFile(join(dir, 'passwd'), `# users\nalice:${hash}\nbob:not-a-hash\n`);
  await writeFile(join(dir, 'server.crt'), '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const parse = (broker: string) => parseConfigText(`broker:\n${broker}${REST}`, 'edgeflux.yaml', {}, dir);

describe('broker security config', () => {
  it('defaults: plain listener, anonymous only from loopback, no users, no ACL, limits', async () => {
    const r = await parse('  port: 11883\n');
    if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
    expect(r.config.broker).toEqual({
      host: '127.0.0.1',
      port: 11883,
      plaintext: true,
      anonymous: 'loopback',
      users: [],
      limits: {
        max_packet: 1024 * 1024,
        max_connections: 1000,
        max_connections_per_address: 32,
        connect_timeout: 5000,
        max_queued_messages: 1000,
        max_topic_length: 256,
        max_topic_levels: 16,
        max_rate: 0,
        retained: { max_per_user: 1000, max_bytes_per_user: 1024 * 1024, max_total: 10_000, max_bytes_total: 10 * 1024 * 1024 },
      },
    });
  });

  it('client id pattern, per-address connections and the connect timeout', async () => {
    const r = await parse('  client_id: "%u-*"\n  limits: { max_connections_per_address: 4, connect_timeout: 2s }\n');
    if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
    expect(r.config.broker?.client_id).toBe('%u-*');
    expect(r.config.broker?.limits).toMatchObject({ max_connections_per_address: 4, connect_timeout: 2000 });
  });

  it('users from the config and the password file together, with ACLs', async () => {
    const r = await parseConfigText(
      `broker:\n  anonymous: never\n  users: [{ username: carol, password_hash: "${hash}" }]\n  acl:\n    - { user: "*", publish: ["sensors/%u/#"] }\n${REST}`,
      'edgeflux.yaml',
      {},
      dir,
    );
    expect(r.ok).toBe(true);
    // and through the file: its bad line is an error naming the file's line
    const f = await parse('  password_file: ./passwd\n');
    expect(f.ok).toBe(false);
    if (!f.ok)
      expect(f.errors.map(formatIssue)).toEqual([
        expect.stringMatching(/^edgeflux\.yaml:2:3 broker\.password_file: \.\/passwd:3: user "bob": not an edgeflux password hash/),
      ]);
  });

  it('every mistake with its place: bad enum, TLS without key, client certs without CA, plain password hash, bad ACL filter', async () => {
    const r = await parse(
      [
        '  anonymous: sometimes',
        '  tls: { cert_file: ./server.crt, client_certs: required }',
        '  users: [{ username: dave, password_hash: hunter2 }]',
        '  acl: [{ user: dave, publish: ["a/#/b"] }]',
        '',
      ].join('\n'),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = r.errors.map(formatIssue);
    expect(lines).toEqual([
      expect.stringMatching(/^edgeflux\.yaml:2:3 broker\.anonymous: expected one of: never, loopback, always/),
      expect.stringMatching(/^edgeflux\.yaml:3:3 broker\.tls\.key_file: a TLS listener needs key_file/),
      expect.stringMatching(/^edgeflux\.yaml:3:\d+ broker\.tls\.client_certs: client_certs needs ca_file/),
      expect.stringMatching(/^edgeflux\.yaml:4:\d+ broker\.users\[0\]\.password_hash: not an edgeflux password hash/),
      expect.stringMatching(/^edgeflux\.yaml:5:\d+ broker\.acl\[0\]\.publish\[0\]: invalid topic filter: "#" must be the last level/),
    ]);
    expect(lines.join('\n')).not.toContain('hunter2');
  });
});
