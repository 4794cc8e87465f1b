/**
 * Child processes of the bench: each runs a script under tsx with an IPC channel, optionally pinned to CPUs with
 * `taskset`, and answers `{ id, cmd }` messages with `{ id, reply }`. The parent never shares an event loop with
 * the app it measures.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));

interface ChildOptions {
  /** CPU list for `taskset -c` (e.g. "0"); undefined runs unpinned. */
  cpus?: string | undefined;
  /** Extra node flags. */
  nodeArgs?: string[];
  /** Shown in error messages. */
  label?: string;
}

export interface Child<Ready> {
  ready: Ready;
  pid: number;
  request<T = unknown>(cmd: string, payload?: unknown): Promise<T>;
  send(cmd: string, payload?: unknown): void;
  /** Asks the child to close and waits for it to exit; kills it (by pid) if it does not within `timeoutMs`. Resolves to its exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

let tasksetChecked: boolean | undefined;
export function canPin(): boolean {
  tasksetChecked ??= spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  return tasksetChecked;
}

interface Message {
  id?: number;
  type?: string;
  reply?: unknown;
  error?: string;
}

/** Starts `bench/<script>` under tsx and resolves once it sends `{ type: 'ready', ... }`. */
export async function startChild<Ready>(script: string, args: string[], options: ChildOptions = {}): Promise<Child<Ready>> {
  const nodeArgs = ['--import', 'tsx', ...(options.nodeArgs ?? []), path.join(benchDir, script), ...args];
  const [command, argv] = options.cpus !== undefined ? ['taskset', ['-c', options.cpus, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  const child: ChildProcess = spawn(command, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const label = options.label ?? script;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let exited = false;
  let exitCode: number | null = null;

  const ready = await new Promise<Ready>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${label} exited (code ${code}) before it was ready`));
    child.once('exit', onExit);
    child.on('message', function onMessage(message: Message & Ready) {
      if (message.type !== 'ready') return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message);
    });
  });
  child.on('message', (message: Message) => {
    if (message.id === undefined) return;
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`${label}: ${message.error}`));
    else waiter.resolve(message.reply);
  });
  child.once('exit', (code) => {
    exited = true;
    exitCode = code;
    for (const waiter of pending.values()) waiter.reject(new Error(`${label} exited (code ${code})`));
    pending.clear();
  });

  return {
    ready,
    pid: child.pid!,
    request<T>(cmd: string, payload?: unknown): Promise<T> {
      if (exited) return Promise.reject(new Error(`${label} has exited`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, cmd, payload });
      });
    },
    send(cmd: string, payload?: unknown) {
      if (!exited) child.send({ cmd, payload });
    },
    async stop(timeoutMs = 15_000) {
      if (exited) return exitCode;
      const exit = once(child, 'exit');
      child.send({ cmd: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const [code] = (await exit) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}

/** The child side: answers requests with `handlers[cmd](payload)`; `exit` runs `onExit` then exits. */
export function serveParent(handlers: Record<string, (payload: unknown) => unknown>, onExit: () => Promise<void> | void = () => {}): void {
  process.on('message', (message: { id?: number; cmd: string; payload?: unknown }) => {
    if (message.cmd === 'exit') {
      void Promise.resolve()
        .then(onExit)
        .finally(() => process.exit(0));
      return;
    }
    const handler = handlers[message.cmd];
    void Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown command ${message.cmd}`);
        return handler(message.payload);
      })
      .then(
        (reply) => message.id !== undefined && process.send!({ id: message.id, reply }),
        (error: unknown) => message.id !== undefined && process.send!({ id: message.id, error: String(error) }),
      );
  });
  // The parent going away must not leave this process behind.
  process.on('disconnect', () => process.exit(0));
}
