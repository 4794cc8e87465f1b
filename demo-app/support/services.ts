/**
 * The orchestrator's side of a demo server: spawn it, learn its URL from the JSON line it prints, stop it.
 *
 * Each server is a separate Node process running TypeScript through tsx's loader (one process per server, no
 * wrapper). It gets its own process group, so a Ctrl-C in the terminal reaches only the orchestrator, which then
 * stops the servers in order (gateway first, so the shadow drains, then the models). It also gets an IPC channel:
 * if the orchestrator dies without stopping it, the channel closes and the server stops itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const TSX_LOADER = import.meta.resolve('tsx');

export type ServiceEvent = { event: string } & Record<string, unknown>;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Service {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  /** Events printed so far, by name (the last of each). */
  readonly events = new Map<string, ServiceEvent>();
  private readonly waiters: { name: string; resolve: (event: ServiceEvent) => void }[] = [];
  private stderrTail: string[] = [];

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    options: { cwd: string; env?: Record<string, string> },
  ) {
    this.child = spawn(process.execPath, ['--import', TSX_LOADER, script, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
      // A process that could not be started never exits: report it as an exit so waiters fail instead of hanging.
      this.child.once('error', (error) => {
        this.stderrTail.push(error.message);
        if (this.child.pid === undefined) resolve({ code: null, signal: null });
      });
    });

    createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line));
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      this.stderrTail = [...this.stderrTail.slice(-19), line];
      process.stderr.write(`  [${this.name}] ${line}\n`);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The next (or already printed) event of this name; rejects if the process exits first or `timeoutMs` passes. */
  async waitFor(name: string, timeoutMs: number): Promise<ServiceEvent> {
    const seen = this.events.get(name);
    if (seen) return seen;
    let timer: NodeJS.Timeout | undefined;
    const event = new Promise<ServiceEvent>((resolve) => this.waiters.push({ name, resolve }));
    const failure = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} did not report "${name}" within ${timeoutMs} ms`)), timeoutMs);
      void this.exited.then((exit) => {
        const tail = this.stderrTail.length > 0 ? `:\n${this.stderrTail.join('\n')}` : '';
        reject(new Error(`${this.name} exited (${exit.signal ?? `code ${exit.code}`}) before reporting "${name}"${tail}`));
      });
    });
    try {
      return await Promise.race([event, failure]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process has exited. */
  async stop(graceMs: number): Promise<Exit> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.kill(), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }

  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }

  private onLine(line: string): void {
    let event: ServiceEvent | undefined;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed === 'object' && parsed !== null && typeof (parsed as ServiceEvent).event === 'string') event = parsed as ServiceEvent;
    } catch {
      // Not an event: shown as it is.
    }
    if (!event) {
      process.stdout.write(`  [${this.name}] ${line}\n`);
      return;
    }
    this.events.set(event.event, event);
    for (const waiter of this.waiters.filter((w) => w.name === event.event)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(event);
    }
  }
}
