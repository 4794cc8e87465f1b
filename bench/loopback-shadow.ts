/**
 * A fast shadow for the benchmarks, in a process of its own so its CPU is not counted: answers every request with a
 * small JSON body once the request has been read. `startLoopbackShadow()` forks this file and resolves its port.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);

if (process.argv[1] === self) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"label":"positive","score":0.91}'));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as { port: number }).port));
}

export async function startLoopbackShadow(): Promise<{ port: number; child: ChildProcess }> {
  const child = fork(self, [], { execArgv: process.execArgv });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(m as number)));
  return { port, child };
}
