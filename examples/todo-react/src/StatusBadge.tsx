// Where this tab stands: leader or follower, term, seq, pending writes, health, storage.
import { useStatus } from './useStatus';

export function StatusBadge() {
  const s = useStatus();
  const note = s.error ?? s.warning ?? s.lastStoreError ?? s.lastInvalidRow;
  return (
    <header className="status" data-health={s.health}>
      <span>tab <code>{s.tabId.slice(0, 8)}</code></span>
      {s.isLeader && <span className="badge">LEADER</span>}
      <span>term <b data-field="term">{s.term}</b></span>
      <span>seq <b data-field="seq">{s.seq ?? '–'}</b></span>
      <span>pending <b data-field="pending">{s.pending}</b></span>
      <span>storage <b data-field="storage">{s.storage ?? '–'}</b></span>
      <span className="health" data-field="health">{s.health}</span>
      {note && <span className="note">{note}</span>}
    </header>
  );
}
