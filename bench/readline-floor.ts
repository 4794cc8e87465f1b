/**
 * The floor a Node reader cannot beat without parsing less: `readline` + `JSON.parse` of every line + a `Map` join by
 * requestId that forgets a request once its production, shadow and comparison records are in. No window, no report.
 *
 *   node --import tsx bench/readline-floor.ts 'logs/*'
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { glob } from 'tinyglobby';

const started = process.hrtime.bigint();
const files = await glob(process.argv.slice(2), { onlyFiles: true, absolute: true });
const open = new Map<string, number>();
let records = 0;
let joined = 0;
for (const file of files) {
  const raw = createReadStream(file, { highWaterMark: 256 * 1024 });
  const lines = createInterface({ input: file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.length === 0) continue;
    const record = JSON.parse(line) as { type?: string; requestId?: string };
    records++;
    if (typeof record.requestId !== 'string') continue;
    const seen = (open.get(record.requestId) ?? 0) + 1;
    if (seen === 3 || record.type === 'skipped') {
      open.delete(record.requestId);
      joined++;
    } else {
      open.set(record.requestId, seen);
    }
  }
}
console.log(JSON.stringify({ records, joined, open: open.size, seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
