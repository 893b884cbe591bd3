// @lockstep/db: persisted, reactive collections in SQLite, kept in lockstep
// across every tab of an app, for TanStack DB.
//
//   const db = await openDatabase({ app: 'todo-app', scope: userId })
//   const todos = createCollection(lockstepCollectionOptions({ db, id: 'todos', getKey: (t: Todo) => t.id }))
export { openDatabase, LockstepDatabase } from './database.js';
export type { OpenDatabaseOptions, InspectReport, InspectedCollection } from './database.js';
export { LiveCollection } from './live-collection.js';
export { wasmMemoryBytes } from './wasm.js';
export { liveDatabaseHandles } from '../wasm/lockstep.js';
export { lockstepCollectionOptions } from './collection.js';
export type { LockstepCollectionConfig, LockstepCollectionOptions, LockstepCollectionUtils } from './collection.js';
export type { RowChange } from './live-collection.js';
export {
  LockstepError,
  KeyExistsError,
  KeyMissingError,
  InvalidInputError,
  StorageFullError,
  StorageError,
  ClosedError,
  QueryError,
  UnsupportedError,
} from './errors.js';
export type { ErrorCode } from './errors.js';
export type {
  Key,
  Row,
  Status,
  Health,
  Storage,
  Position,
  PendingWrite,
  QueryResult,
  DatabaseReport,
  LeaderCounters,
  TabCounters,
  DroppedMessages,
  CollectionInfo,
  KeyedRow,
} from '../wasm/lockstep.js';
