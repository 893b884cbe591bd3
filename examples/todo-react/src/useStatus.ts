// The database's live status as React state.
import { useSyncExternalStore } from 'react';
import type { Status } from '@lockstep/db';
import { db } from './db';

export function useStatus(): Status {
  return useSyncExternalStore((notify) => db.onStatus(notify), () => db.status);
}
