/**
 * Types of the optional peers, used when the app has them installed and replaced by a fallback when it has not.
 *
 * Hand-written (the build copies it to dist/): tsc drops `@ts-ignore` comments from the declarations it emits, and
 * without them a consumer with no `@types/express` or no `prom-client` would get "Cannot find module" from our types.
 * An import that cannot be resolved is `any`-like, and `unknown extends T` is true only then, which picks the fallback.
 */
/* eslint-disable @typescript-eslint/ban-ts-comment -- @ts-expect-error would fail wherever the peer IS installed */

// @ts-ignore optional peer: unresolved without @types/express
import type { Request, Response } from 'express';
// @ts-ignore optional peer: unresolved without prom-client
import type { Registry, RegistryContentType } from 'prom-client';

/** Express's `Request` when `@types/express` is installed, otherwise `Fallback`. */
export type ExpressRequestOr<Fallback> = unknown extends Request ? Fallback : Request;

/** Express's `Response` when `@types/express` is installed, otherwise `Fallback`. */
export type ExpressResponseOr<Fallback> = unknown extends Response ? Fallback : Response;

/** prom-client's `Registry` (of either content type) when prom-client is installed, otherwise `Fallback`. */
export type PromRegistryOr<Fallback> = unknown extends Registry ? Fallback : Registry<RegistryContentType>;
