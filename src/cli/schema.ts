import { writeFile } from 'node:fs/promises';
import { configJsonSchema } from '../config/schema.js';

/** Prints (or writes to `out`) the JSON Schema of the config file. */
export async function schemaCommand(out: string | undefined): Promise<number> {
  const text = `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
  if (out) await writeFile(out, text);
  else process.stdout.write(text);
  return 0;
}
