import { readFile, rename, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { hashPassword, setPasswordEntry } from '../util/passwords.js';
import { UsageError } from './usage.js';

/** Reads one line from stdin; on a TTY it asks `prompt` and does not echo what is typed. */
async function readSecretLine(prompt: string): Promise<string> {
  const tty = process.stdin.isTTY === true;
  // On a terminal readline echoes what is typed to its output: give it one that drops it.
  const silent = new Writable({ write: (_chunk, _enc, cb) => cb() });
  const rl = createInterface({ input: process.stdin, output: tty ? silent : undefined, terminal: tty });
  // The prompt only now: the interface has put the terminal in raw mode (no echo by the
  // terminal itself), so nothing typed after the prompt appears.
  if (tty) process.stderr.write(prompt);
  try {
    const line = await new Promise<string>((resolve, reject) => {
      rl.once('line', resolve);
      rl.once('close', () => reject(new UsageError('no password given on standard input (echo it in, or run it on a terminal)')));
    });
    if (tty) process.stderr.write('\n');
    return line;
  } finally {
    rl.close();
  }
}

/**
 * `edgeflux passwd USER --file FILE`: sets USER's password in the embedded broker's
 * password file (created with mode 0600 when missing), as a salted scrypt hash. The
 * password is read from standard input (asked twice, without echo, on a terminal).
 */
export async function passwdCommand(username: string | undefined, file: string | undefined): Promise<number> {
  if (!username || !file) throw new UsageError('USER and --file PASSWORD_FILE are required (the password is read from standard input)');
  if (!/^[^:\s]+$/.test(username)) throw new UsageError(`user name ${JSON.stringify(username)} may not contain ":" or white space`);
  const password = await readSecretLine(`password for ${username}: `);
  if (process.stdin.isTTY === true) {
    const again = await readSecretLine('again: ');
    if (again !== password) {
      process.stderr.write('edgeflux passwd: the passwords differ; nothing changed\n');
      return 1;
    }
  }
  if (password.length < 8) throw new UsageError(password === '' ? 'the password is empty: use at least 8 characters' : 'use at least 8 characters');
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const next = setPasswordEntry(text, username, await hashPassword(password));
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, next, { mode: 0o600 });
  await rename(tmp, file);
  process.stderr.write(`edgeflux passwd: ${text.includes(`${username}:`) ? 'updated' : 'added'} ${username} in ${file}\n`);
  return 0;
}
