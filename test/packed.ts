/**
 * The package as a user installs it, for test/package*.test.ts: `npm pack` once, unpacked into a project inside the
 * repository (it resolves dependencies and the optional peers from the repository's node_modules) and into one
 * outside it that has every dependency except the optional peers.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const rootModules = path.join(root, 'node_modules');
export const run = promisify(execFile);

/** The optional peers, kept out of the project that must work without them. */
const PEERS = new Set(['express', 'express4', 'prom-client', '@types/express', '@types/express-serve-static-core']);

export interface PackedProjects {
  /** Paths of the files in the tarball. */
  files: string[];
  /** Project whose node_modules resolve to the repository's, peers included. */
  withPeers: string;
  /** Project outside the repository without `express`, `@types/express` and `prom-client`. */
  withoutPeers: string;
  remove(): void;
}

/** Packs the package (dist/ must be built) and unpacks it into two fresh projects named after `name`. */
export async function packIntoProjects(name: string): Promise<PackedProjects> {
  const withPeers = path.join(root, 'test-output', name);
  const withoutPeers = path.join(os.tmpdir(), `express-shadow-${name}-no-peers-${process.pid}`);
  for (const project of [withPeers, withoutPeers]) {
    rmSync(project, { recursive: true, force: true });
    mkdirSync(path.join(project, 'node_modules', 'express-shadow'), { recursive: true });
  }
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const { stdout } = await run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', withPeers], { cwd: root, encoding: 'utf8' });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  const tarball = path.join(withPeers, packed!.filename);
  for (const project of [withPeers, withoutPeers]) {
    execFileSync('tar', ['-xzf', tarball, '-C', path.join(project, 'node_modules', 'express-shadow'), '--strip-components=1']);
  }
  linkDependenciesExceptPeers(path.join(withoutPeers, 'node_modules'));
  return {
    files: packed!.files.map((file) => file.path),
    withPeers,
    withoutPeers,
    remove: () => rmSync(withoutPeers, { recursive: true, force: true }),
  };
}

function linkDependenciesExceptPeers(modules: string): void {
  for (const name of readdirSync(rootModules)) {
    if (name.startsWith('.') || name === 'express-shadow') continue;
    if (name.startsWith('@')) {
      mkdirSync(path.join(modules, name), { recursive: true });
      for (const scoped of readdirSync(path.join(rootModules, name))) {
        if (!PEERS.has(`${name}/${scoped}`)) symlinkSync(path.join(rootModules, name, scoped), path.join(modules, name, scoped));
      }
    } else if (!PEERS.has(name)) symlinkSync(path.join(rootModules, name), path.join(modules, name));
  }
}
