/**
 * The shadow's HTTP client, side by side in one process: CPU per call for got (stream), node:http with a keep-alive
 * agent, undici Pool.request and undici Pool.dispatch (what the engine uses), each making the same POST of ~1 KB to a
 * loopback server in a child process, 32 calls in flight, rounds interleaved. Run: `npx tsx bench/http-clients.ts`.
 */
import http from 'node:http';
import { startLoopbackShadow } from './loopback-shadow.js';
import { got } from 'got';
import { Pool } from 'undici';

const { port, child } = await startLoopbackShadow();
const origin = `http://127.0.0.1:${port}`;
const body = Buffer.from(JSON.stringify({ text: 'x'.repeat(900) }));
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const client = got.extend({ retry: { limit: 0 }, throwHttpErrors: false, followRedirect: false, agent: { http: agent } });
const pool = new Pool(origin, { connections: 32 });

const clients: Record<string, () => Promise<void>> = {
  'got stream': () =>
    new Promise((resolve, reject) => {
      const stream = client.stream.post(`${origin}/predict`, { headers, body });
      stream.on('data', () => {}).on('end', resolve).on('error', reject);
    }),
  'node:http + keep-alive agent': () =>
    new Promise((resolve, reject) => {
      const req = http.request(`${origin}/predict`, { method: 'POST', agent, headers }, (res) => res.on('data', () => {}).on('end', resolve));
      req.on('error', reject).end(body);
    }),
  'undici Pool.request': async () => {
    const res = await pool.request({ path: '/predict', method: 'POST', headers, body });
    for await (const _ of res.body);
  },
  'undici Pool.dispatch': () =>
    new Promise((resolve, reject) => {
      pool.dispatch(
        { path: '/predict', method: 'POST', headers, body },
        { onRequestStart() {}, onResponseStart() {}, onResponseData() {}, onResponseEnd: () => resolve(), onResponseError: (_c: unknown, e: Error) => reject(e) },
      );
    }),
};

async function round(call: () => Promise<void>, n: number): Promise<number> {
  let next = 0;
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next++ < n) await call();
  }));
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / n;
}
const results: Record<string, number[]> = {};
for (const call of Object.values(clients)) await round(call, 500); // warm-up
for (let r = 0; r < 3; r++) for (const [name, call] of Object.entries(clients)) (results[name] ??= []).push(await round(call, 4000));
for (const [name, runs] of Object.entries(results)) console.log(`${name.padEnd(30)} ${runs.map((us) => us.toFixed(0).padStart(4)).join(' ')} µs CPU per call (client process, 3 rounds)`);
await pool.close();
agent.destroy();
child.kill();
