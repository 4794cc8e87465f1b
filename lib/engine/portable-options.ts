/**
 * Which options can cross to the engine's worker thread. Data crosses as it is; the hooks that decide (`filter`,
 * `sampleBy`, `mirrorIf`, `requestId`) stay with the tap on the main thread; every other hook crosses as a module
 * specifier (`{ module: './hooks.js', export: 'invoke' }`) that the worker imports. A plain function or a logger
 * object cannot cross: those instances run their engine in the app's thread.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import type { ModuleHook } from '../types.js';
export type { ModuleHook };

/** Hooks that decide on the main thread; never sent to the engine. */
const TAP_HOOKS = new Set(['filter', 'sampleBy', 'mirrorIf', 'requestId']);

function isModuleHook(value: unknown): value is ModuleHook {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  const hook = value as Record<string, unknown>;
  return (
    typeof hook.module === 'string' &&
    hook.module.length > 0 &&
    (hook.export === undefined || (typeof hook.export === 'string' && hook.export.length > 0)) &&
    keys.every((key) => key === 'module' || key === 'export')
  );
}

/**
 * The options as the worker gets them (tap hooks removed, module paths made absolute), or the first option that
 * cannot cross a thread.
 */
export function portableOptions(options: Record<string, unknown>): { portable: Record<string, unknown> } | { blocker: string } {
  const portable: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (TAP_HOOKS.has(key)) continue;
    const converted = toPortable(value, key);
    if ('blocker' in converted) return converted;
    portable[key] = converted.value;
  }
  return { portable };
}

function toPortable(value: unknown, where: string): { value: unknown } | { blocker: string } {
  if (typeof value === 'function') return { blocker: where };
  if (value === null || typeof value !== 'object') return { value };
  if (isModuleHook(value)) return { value: { ...value, module: absoluteSpecifier(value.module) } };
  if (Array.isArray(value)) {
    const items: unknown[] = [];
    for (const [i, item] of value.entries()) {
      const converted = toPortable(item, `${where}[${i}]`);
      if ('blocker' in converted) return converted;
      items.push(converted.value);
    }
    return { value: items };
  }
  const prototype = Object.getPrototypeOf(value);
  // A logger, a registry, any class instance: not data.
  if (prototype !== Object.prototype && prototype !== null) return { blocker: where };
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const converted = toPortable(item, `${where}.${key}`);
    if ('blocker' in converted) return converted;
    copy[key] = converted.value;
  }
  return { value: copy };
}

/** Relative and absolute paths resolve against the app's working directory, once, on the main thread. */
function absoluteSpecifier(specifier: string): string {
  if (specifier.startsWith('./') || specifier.startsWith('../')) return pathToFileURL(resolve(specifier)).href;
  if (isAbsolute(specifier)) return pathToFileURL(specifier).href;
  return specifier;
}

/** Options with every module hook replaced by `replace(hook)`: placeholders to validate with, or the imported functions. */
export function replaceModuleHooks(value: unknown, replace: (hook: ModuleHook) => unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (isModuleHook(value)) return replace(value);
  if (Array.isArray(value)) return value.map((item) => replaceModuleHooks(item, replace));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[key] = replaceModuleHooks(item, replace);
  return copy;
}

/** Imports a module hook's export; it must be a function. */
async function importHook(hook: ModuleHook): Promise<unknown> {
  const name = hook.export ?? 'default';
  const loaded = (await import(hook.module)) as Record<string, unknown>;
  const exported = loaded[name];
  if (typeof exported !== 'function') throw new TypeError(`express-shadow: ${hook.module} has no function export ${JSON.stringify(name)}`);
  return exported;
}

/** Every module hook in the options imported, and put in its place. */
export async function loadModuleHooks(options: Record<string, unknown>): Promise<Record<string, unknown>> {
  const hooks: ModuleHook[] = [];
  replaceModuleHooks(options, (hook) => hooks.push(hook));
  const key = (hook: ModuleHook) => `${hook.module}#${hook.export ?? 'default'}`;
  const loaded = new Map(await Promise.all(hooks.map(async (hook) => [key(hook), await importHook(hook)] as const)));
  return replaceModuleHooks(options, (hook) => loaded.get(key(hook))) as Record<string, unknown>;
}
