// Bootstrap: the database opens before the first render (db.ts awaits it).
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createTransaction } from '@tanstack/react-db';
import { App } from './App';
import { app, db, scope, todos } from './db';
import './styles.css';

// Like most dev tools: the database and its collections, from the console.
declare global {
  interface Window {
    lockstep: { ready: boolean; db: typeof db; todos: typeof todos; app: string; scope: string; createTransaction: typeof createTransaction };
  }
}
window.lockstep = { ready: true, db, todos, app, scope, createTransaction };

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
