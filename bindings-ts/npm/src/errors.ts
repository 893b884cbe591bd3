// Typed errors of @lockstep/db. The wasm side throws plain `Error`s named
// `LockstepError` carrying a `code` (and `collection` / `key` when known);
// `toLockstepError` turns them into the classes below, so apps can write
// `catch (e) { if (e instanceof KeyExistsError) … }`.
import type { ErrorCode, Key } from '../wasm/lockstep.js';

export type { ErrorCode };

/** Base class of every error Lockstep throws or rejects with. */
export class LockstepError extends Error {
  // Explicit: minifiers rename classes, and `name` is what users log and match.
  override name = 'LockstepError';
  /** What kind of failure (`key-exists`, `storage-full`, `closed`, …). */
  readonly code: ErrorCode;
  /** The collection concerned, when one is. */
  readonly collection: string | undefined;
  /** The key concerned, when one is. */
  readonly key: Key | undefined;

  constructor(code: ErrorCode, message: string, details: { collection?: string | undefined; key?: Key | undefined; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.collection = details.collection;
    this.key = details.key;
  }
}

/** An insert of a key that already exists. */
export class KeyExistsError extends LockstepError {
  override name = 'KeyExistsError';
}
/** An update, patch or delete of a key that does not exist. */
export class KeyMissingError extends LockstepError {
  override name = 'KeyMissingError';
}
/** Input Lockstep refuses: a key, a row, a name, a size limit. */
export class InvalidInputError extends LockstepError {
  override name = 'InvalidInputError';
}
/** The browser's storage quota is full: nothing of the write was committed. */
export class StorageFullError extends LockstepError {
  override name = 'StorageFullError';
}
/** The leader's SQLite store failed: nothing of the write was committed. */
export class StorageError extends LockstepError {
  override name = 'StorageError';
}
/** The database was closed in this tab before the operation finished. */
export class ClosedError extends LockstepError {
  override name = 'ClosedError';
}
/** A read-only query that failed: it would write, SQLite refused it, or it ran too long. */
export class QueryError extends LockstepError {
  override name = 'QueryError';
}
/** A browser API Lockstep needs is missing (Web Locks, BroadcastChannel, workers). */
export class UnsupportedError extends LockstepError {
  override name = 'UnsupportedError';
}

const classes: Record<ErrorCode, typeof LockstepError> = {
  'key-exists': KeyExistsError,
  'key-missing': KeyMissingError,
  invalid: InvalidInputError,
  'storage-full': StorageFullError,
  storage: StorageError,
  closed: ClosedError,
  'not-read-only': QueryError,
  sql: QueryError,
  'query-too-long': QueryError,
  unsupported: UnsupportedError,
};

interface Thrown {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  collection?: unknown;
  key?: unknown;
}

/**
 * The typed error for anything the wasm side threw. With `collection`, the
 * message names it when it does not already.
 */
export function toLockstepError(error: unknown, collection?: string): LockstepError {
  if (error instanceof LockstepError) return error;
  const thrown = (typeof error === 'object' && error !== null ? error : {}) as Thrown;
  const code = typeof thrown.code === 'string' && thrown.code in classes ? (thrown.code as ErrorCode) : 'invalid';
  const where = typeof thrown.collection === 'string' ? thrown.collection : collection;
  let message = typeof thrown.message === 'string' ? thrown.message : String(error);
  if (where !== undefined && !message.includes(where)) message = `collection ${where}: ${message}`;
  const key = typeof thrown.key === 'string' || typeof thrown.key === 'number' ? thrown.key : undefined;
  const Class = classes[code];
  return new Class(code, message, { collection: where, key, cause: error });
}
