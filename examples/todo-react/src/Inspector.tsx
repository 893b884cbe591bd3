// The debug panel (seed 001's `/debug/db`, done right): this tab's live
// status, the live database as the leader sees it (db.inspect), and a SQL box
// on db.query, which reads the live database from any tab, read-only, with
// each collection as a view named after it.
import { useState, type FormEvent } from 'react';
import type { InspectReport, QueryResult } from '@lockstep/db';
import { db } from './db';
import { useStatus } from './useStatus';

export function Inspector() {
  const status = useStatus();
  const [report, setReport] = useState<InspectReport | null>(null);
  const [sql, setSql] = useState('select count(*) as n, sum(done) as done from todos');
  const [result, setResult] = useState<QueryResult | null>(null);
  const [error, setError] = useState<string | null>(null);

  const inspect = async () => {
    setError(null);
    try {
      setReport(await db.inspect({ sampleRows: 5 }));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const run = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      setResult(await db.query(sql));
    } catch (e) {
      setResult(null);
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <aside className="inspector">
      <h2>inspector</h2>
      <h3>status</h3>
      <pre data-panel="status">{JSON.stringify(status, null, 2)}</pre>
      <button onClick={() => void inspect()}>Inspect the live database</button>
      {report && <pre data-panel="inspect">{JSON.stringify(report, null, 2)}</pre>}
      <h3>SQL (read-only, live)</h3>
      <form onSubmit={(e) => void run(e)}>
        <textarea aria-label="sql" value={sql} onChange={(e) => setSql(e.target.value)} rows={3} />
        <button type="submit">Run</button>
      </form>
      {error && <p className="error" role="alert">{error}</p>}
      {result && (
        <table data-panel="query">
          <thead>
            <tr>{result.columns.map((c) => <th key={c}>{c}</th>)}</tr>
          </thead>
          <tbody>
            {result.rows.map((row, i) => (
              <tr key={i}>{row.map((v, j) => <td key={j}>{typeof v === 'string' ? v : JSON.stringify(v)}</td>)}</tr>
            ))}
          </tbody>
        </table>
      )}
    </aside>
  );
}
