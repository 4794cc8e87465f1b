// What the two engine benchmarks run at saturation share (engine-cost.mjs, latency-honesty.mjs): the measured app in
// a child process, the closed loop of clients that loads it, and the child-process plumbing. Run with cwd = a built
// checkout: the app loads express from the checkout and the middleware from its dist/.
import { fork } from 'node:child_process';
import http from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

/** The request body both benchmarks send: about 1 KB of JSON. */
const BODY = JSON.stringify({ text: 'x'.repeat(900) });

/** Clients of the closed loop: enough to keep the app saturated. */
const CLIENTS = 16;

/**
 * The app both benchmarks measure, in this (child) process: Express, JSON parsing and POST /predict, with the built
 * middleware in front when MODE=mirror (TARGET and LOG_FILE from the environment). Tells the parent its port.
 * Returns the middleware (null without it).
 */
export async function startPredictApp(root) {
  const express = createRequire(join(root, 'package.json'))('express');
  const app = express();
  let mw = null;
  if (process.env.MODE === 'mirror') {
    const { shadowMiddleware } = await import(resolve(root, 'dist/index.js'));
    mw = shadowMiddleware({ target: process.env.TARGET, logFile: process.env.LOG_FILE, summaryIntervalMs: 0 });
    app.use(mw);
  }
  app.use(express.json());
  app.post('/predict', (req, res) => res.json({ label: 'positive', score: 0.9, n: req.body?.text?.length ?? 0 }));
  const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  server.keepAliveTimeout = 60000;
  return mw;
}

/** Forks `script` (a file URL) in a role; resolves once the child has sent its port. */
export function forkRole(script, args, env) {
  return new Promise((res) => {
    const child = fork(new URL(script).pathname, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m) => res({ child, port: m.port }));
  });
}

/** Sends a message to a child and resolves with its answer. */
export function ask(child, msg) {
  return new Promise((res) => {
    child.once('message', res);
    child.send(msg);
  });
}

/** `n` POST /predict requests from a closed loop of CLIENTS keep-alive clients. */
export async function load(port, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  let next = 0;
  const one = () =>
    new Promise((res, rej) => {
      const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) };
      const req = http.request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', agent, headers }, (r) => {
        r.resume();
        r.on('end', res);
      });
      req.on('error', rej);
      req.end(BODY);
    });
  await Promise.all(Array.from({ length: CLIENTS }, async () => { while (next++ < n) await one(); }));
  agent.destroy();
}

/** CPU ns of every thread of this process, by tid (the kernel's per-thread scheduler stats: time on CPU only). */
export function threadCpu() {
  const cpu = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      cpu.set(Number(tid), Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return cpu;
}
