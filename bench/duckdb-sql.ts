/**
 * Runs the queries of sql/ on DuckDB over the logs, as a user of the "At scale" page would, and prints the wall time.
 *
 *   node --import tsx bench/duckdb-sql.ts 'logs/*' [threads]
 */
import { readdir, readFile } from 'node:fs/promises';
import { DuckDBInstance } from '@duckdb/node-api';

const [files = 'bench/results/logs/*', threads = '2'] = process.argv.slice(2);
const sqlDir = new URL('../sql/', import.meta.url);
const started = process.hrtime.bigint();
const db = await DuckDBInstance.create(':memory:', { threads });
const connection = await db.connect();
await connection.run(`SET VARIABLE shadow_log_files = '${files.replaceAll("'", "''")}'`);
await connection.run(await readFile(new URL('shadow-log.sql', sqlDir), 'utf8'));
const rows: Record<string, number> = {};
for (const name of (await readdir(sqlDir)).filter((f) => f.endsWith('.sql') && f !== 'shadow-log.sql').sort()) {
  const result = await connection.runAndReadAll(await readFile(new URL(name, sqlDir), 'utf8'));
  rows[name] = result.currentRowCount;
}
connection.closeSync();
db.closeSync();
console.log(JSON.stringify({ threads: Number(threads), rows, seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
