// Bootstrap: the database opens before the first render (db.ts awaits it);
// if it cannot open, the page says why instead of rendering.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import * as tanstack from '@tanstack/react-db';
import { lockstepCollectionOptions } from '@lockstep/db';
import './styles.css';

// Like most dev tools: the database and its collections, from the console.
declare global {
  interface Window {
    lockstep?: {
      ready: boolean;
      error?: string;
      db?: import('@lockstep/db').LockstepDatabase;
      todos?: (typeof import('./db'))['todos'];
      app?: string;
      scope?: string;
      createTransaction?: typeof tanstack.createTransaction;
      /** TanStack DB and the collection options, for collections made from the console (and the browser tests). */
      tanstack?: typeof tanstack & { lockstepCollectionOptions: typeof lockstepCollectionOptions };
    };
  }
}

const root = document.getElementById('root');
try {
  const { app, db, scope, todos } = await import('./db');
  const { App } = await import('./App');
  window.lockstep = {
    ready: true,
    db,
    todos,
    app,
    scope,
    createTransaction: tanstack.createTransaction,
    tanstack: { ...tanstack, lockstepCollectionOptions },
  };
  if (root) {
    createRoot(root).render(
      <StrictMode>
        <App />
      </StrictMode>,
    );
  }
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  console.error('Lockstep could not open the database:', error);
  window.lockstep = { ready: false, error: message };
  if (root) root.textContent = `Lockstep could not open the database: ${message}`;
}
