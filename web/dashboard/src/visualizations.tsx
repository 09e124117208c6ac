/** Visualizations: the API has no list of them yet, so this page opens one by its id in the viewer. */
import { useState } from 'react';

export function VisualizationsPage() {
  const [id, setId] = useState('');
  const valid = /^[A-Za-z0-9_-]+$/.test(id.trim());
  return (
    <section aria-labelledby="viz-title">
      <h1 id="viz-title">Visualizations</h1>
      <p>Open a repository visualization by its id (the answer of startVisualization or POST /v1/visualize). A list of your visualizations will appear here once the API offers one.</p>
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (valid) window.location.assign(`/viz/${encodeURIComponent(id.trim())}`);
        }}
      >
        <label>Visualization id <input value={id} onChange={(e) => setId(e.target.value)} required placeholder="viz_…" /></label>
        <button type="submit" disabled={!valid}>Open in the viewer</button>
      </form>
    </section>
  );
}
