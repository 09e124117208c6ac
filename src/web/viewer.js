/*
 * The repository viewer: loads a visualization from the API and draws it with Cytoscape.js on a
 * canvas: the file tree (directories and files, files sized by churn), contributors linked to the
 * files they changed, files that change together. The slider replays the history: at time t only
 * what existed by t is shown. Served at /viz/{id} (asks for an API key; `#key=` in the URL also
 * works, it never reaches the server), /share/{share_id} and /embed/{id or share_id}.
 */
/* global cytoscape */
(function () {
  'use strict';
  const [mode, id] = location.pathname.split('/').filter(Boolean);
  const $ = (sel) => document.querySelector(sel);
  const state = { ready: false, nodeCount: 0, edgeCount: 0, visibleNodes: 0, error: null };
  window.vizViewer = state;

  function say(text) {
    $('#message').hidden = false;
    $('#message').textContent = text;
  }

  function keyFromPage() {
    const m = /(?:^#|&)key=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem('codex-viz-key', decodeURIComponent(m[1]));
      history.replaceState(null, '', location.pathname); // keep the key out of the address bar
    }
    return sessionStorage.getItem('codex-viz-key');
  }

  function askForKey(reason) {
    say(reason);
    const form = $('#key-form');
    form.style.display = 'flex';
    form.onsubmit = (e) => {
      e.preventDefault();
      sessionStorage.setItem('codex-viz-key', $('#key').value.trim());
      form.style.display = 'none';
      load();
    };
  }

  async function fetchData() {
    if (/^shr_/.test(id)) return fetch(`/v1/shared/${encodeURIComponent(id)}`);
    const key = keyFromPage();
    if (!key) return null;
    return fetch(`/v1/visualize/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${key}` } });
  }

  async function load() {
    if (!id || !['viz', 'share', 'embed'].includes(mode)) return say('No visualization in this address.');
    let res;
    try {
      res = await fetchData();
    } catch {
      return say('The server could not be reached.');
    }
    if (!res) return askForKey('This visualization needs an API key (or open a share link instead).');
    const body = await res.json().catch(() => null);
    if (res.status === 401 || res.status === 403) {
      sessionStorage.removeItem('codex-viz-key');
      return askForKey(body?.error?.message ?? 'The key was not accepted.');
    }
    if (!res.ok) {
      state.error = body?.error?.code ?? String(res.status);
      return say(body?.error?.message ?? `The visualization could not be loaded (${res.status}).`);
    }
    if (body.status === 'processing') {
      say('The repository is being analysed…');
      return setTimeout(load, 2000);
    }
    if (body.status === 'failed') {
      state.error = 'failed';
      return say(`The analysis failed: ${body.error}`);
    }
    render(body);
  }

  const time = (iso) => (iso ? Date.parse(iso) : null);

  function colorOf(language) {
    if (!language) return '#7fd1ae';
    let h = 0;
    for (const c of language) h = (h * 31 + c.charCodeAt(0)) % 360;
    return `hsl(${h}, 55%, 62%)`;
  }

  /**
   * A radial tree: the root in the middle, each directory level on a ring, files on the outer
   * rings, each subtree in its own angular slice (leaves share the circle in tree order);
   * contributors on a ring outside. Linear in the number of nodes, and the same every time.
   */
  function radialPositions(nodes) {
    const children = new Map();
    const byId = new Map(nodes.map((n) => [n.id, n]));
    let root = null;
    for (const n of nodes) {
      if (n.type === 'contributor') continue;
      if (!n.parent || !byId.has(n.parent)) root = root ?? n;
      else (children.get(n.parent) ?? children.set(n.parent, []).get(n.parent)).push(n);
    }
    const positions = {};
    const ring = 90;
    let leaves = 0;
    const countLeaves = (n) => {
      const kids = children.get(n.id) ?? [];
      n._leaves = kids.length ? kids.reduce((sum, k) => sum + countLeaves(k), 0) : 1;
      return n._leaves;
    };
    let maxDepth = 0;
    if (root) {
      leaves = countLeaves(root);
      const place = (n, depth, from, to) => {
        maxDepth = Math.max(maxDepth, depth);
        const angle = (from + to) / 2;
        const r = depth * ring * (1 + Math.log1p(leaves) / 4);
        positions[n.id] = { x: r * Math.cos(angle), y: r * Math.sin(angle) };
        let start = from;
        for (const k of children.get(n.id) ?? []) {
          const span = ((to - from) * k._leaves) / n._leaves;
          place(k, depth + 1, start, start + span);
          start += span;
        }
      };
      place(root, 0, 0, 2 * Math.PI);
    }
    const people = nodes.filter((n) => n.type === 'contributor');
    const outer = (maxDepth + 1.5) * ring * (1 + Math.log1p(leaves) / 4);
    people.forEach((n, i) => {
      const angle = (2 * Math.PI * i) / Math.max(1, people.length);
      positions[n.id] = { x: outer * Math.cos(angle), y: outer * Math.sin(angle) };
    });
    return positions;
  }

  function render(v) {
    const { nodes, edges } = v.data;
    const maxChurn = Math.max(1, ...nodes.filter((n) => n.type === 'file').map((n) => n.churn));
    const maxCommits = Math.max(1, ...nodes.filter((n) => n.type === 'contributor').map((n) => n.commits));
    const elements = [];
    for (const n of nodes) {
      const size =
        n.type === 'file' ? 8 + 42 * Math.sqrt(n.churn / maxChurn) : n.type === 'contributor' ? 16 + 34 * Math.sqrt(n.commits / maxCommits) : 18;
      elements.push({
        group: 'nodes',
        data: { id: n.id, label: n.type === 'contributor' ? n.name : n.name || '/', kind: n.type, size, color: colorOf(n.language), first: time(n.first_commit_at) },
        classes: n.type,
      });
    }
    for (const n of nodes) {
      if (n.parent) elements.push({ group: 'edges', data: { id: `t:${n.id}`, source: n.parent, target: n.id, first: time(n.first_commit_at) }, classes: 'tree' });
    }
    edges.forEach((e, i) => elements.push({ group: 'edges', data: { id: `e${i}`, source: e.source, target: e.target, first: time(e.first_commit_at), weight: e.commits }, classes: e.type }));

    $('#message').hidden = true;
    $('#cy').hidden = false;
    $('#controls').hidden = false;
    $('#title').textContent = v.repository.replace(/^.*[/:]/, '').replace(/\.git$/, '') + (v.branch ? ` · ${v.branch}` : '');
    const s = v.stats;
    $('#stats').textContent = `${s.total_commits} commits · ${s.total_files} files · ${s.total_contributors} contributors · ${s.lines_of_code} lines · ${Object.entries(s.languages)
      .slice(0, 3)
      .map(([l, p]) => `${l} ${p}%`)
      .join(', ')}`;

    const cy = cytoscape({
      container: $('#cy'),
      elements,
      wheelSensitivity: 0.3,
      style: [
        { selector: 'node', style: { width: 'data(size)', height: 'data(size)', 'background-color': 'data(color)', label: 'data(label)', color: '#c9d1d9', 'font-size': 9, 'text-valign': 'bottom', 'text-margin-y': 2, 'min-zoomed-font-size': 8 } },
        { selector: 'node.directory', style: { shape: 'round-rectangle', 'background-color': '#5b8def' } },
        { selector: 'node.contributor', style: { 'background-color': '#f2b134', 'font-size': 10 } },
        { selector: 'edge', style: { width: 1, 'line-color': '#3a4656', 'curve-style': 'haystack', opacity: 0.8 } },
        { selector: 'edge.authored', style: { 'line-color': '#f2b134', opacity: 0.35 } },
        { selector: 'edge.co_changed', style: { 'line-color': '#d66bd1', opacity: 0.5, 'line-style': 'dashed', 'curve-style': 'bezier' } },
        { selector: '.future', style: { display: 'none' } },
      ],
      layout: { name: 'preset', positions: radialPositions(nodes), fit: true, padding: 20 },
    });

    const times = [...nodes, ...edges].map((x) => time(x.first_commit_at)).filter((t) => t !== null);
    const start = times.length ? Math.min(...times) : Date.now();
    const end = times.length ? Math.max(...times) : Date.now();
    const slider = $('#time');

    function setTime(t) {
      cy.batch(() => {
        cy.elements().forEach((el) => {
          const first = el.data('first');
          el.toggleClass('future', first !== null && first > t);
        });
        // A node hidden hides its edges; an edge to a visible node still waits for its own time.
      });
      state.visibleNodes = cy.nodes().filter((n) => !n.hasClass('future')).length;
      $('#when').textContent = `${new Date(t).toISOString().slice(0, 10)} · ${state.visibleNodes} of ${state.nodeCount} shown`;
    }
    const sliderTime = () => start + ((end - start) * Number(slider.value)) / Number(slider.max);
    slider.oninput = () => setTime(sliderTime());
    let timer = null;
    $('#play').onclick = () => {
      if (timer) {
        clearInterval(timer);
        timer = null;
        return;
      }
      slider.value = '0';
      timer = setInterval(() => {
        slider.value = String(Math.min(Number(slider.max), Number(slider.value) + 5));
        setTime(sliderTime());
        if (Number(slider.value) >= Number(slider.max)) {
          clearInterval(timer);
          timer = null;
        }
      }, 50);
    };

    // Details of a node on tap (textContent only: paths and names are data, never markup).
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const day = (iso) => (iso ? iso.slice(0, 10) : '—');
    cy.on('tap', 'node', (e) => {
      const n = byId.get(e.target.id());
      if (!n) return;
      const lines =
        n.type === 'contributor'
          ? [`${n.name} <${n.email}>`, `${n.commits} commits, +${n.insertions} −${n.deletions}`, `active ${day(n.first_commit_at)} … ${day(n.last_commit_at)}`]
          : [
              n.path || v.repository,
              `${n.type}${n.language ? ` · ${n.language}` : ''}${n.files != null ? ` · ${n.files} files` : ''}`,
              `${n.lines ?? 0} lines, ${n.size ?? 0} bytes`,
              `churn ${n.churn} in ${n.commits} commits`,
              `first ${day(n.first_commit_at)}, last ${day(n.last_commit_at)}`,
            ];
      $('#info').textContent = lines.join('\n');
      $('#info').hidden = false;
    });
    cy.on('tap', (e) => {
      if (e.target === cy) $('#info').hidden = true;
    });

    state.nodeCount = cy.nodes().length;
    state.edgeCount = cy.edges().length;
    state.start = start;
    state.end = end;
    state.setTime = setTime;
    state.cy = cy;
    setTime(end);
    cy.ready(() => {
      state.ready = true;
      document.body.dataset.ready = 'true';
    });
  }

  load();
})();
