// The app's database and its collections. Every tab of the same (app,
// scope) shares them: ?app=…&scope=… pick another database, &storage=memory
// keeps it in memory only.
import { createCollection } from '@tanstack/react-db';
import { lockstepCollectionOptions, openDatabase } from '@lockstep/db';
import { todoSchema } from './schema';

const params = new URLSearchParams(location.search);
export const app = params.get('app') ?? 'lockstep-todo';
export const scope = params.get('scope') ?? 'demo-user';

export const db = await openDatabase({ app, scope, memoryOnly: params.get('storage') === 'memory' });

export const todos = createCollection(
  lockstepCollectionOptions({ db, id: 'todos', schema: todoSchema, getKey: (todo) => todo.id }),
);

addEventListener('pagehide', () => void db.close());
