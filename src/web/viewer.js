/*
 * The repository viewer: loads a visualization from the API and draws it with Cytoscape.js on a
 * canvas. Each directory is a box holding its files and subdirectories (so a folder reads as one
 * cluster), files are sized by churn and coloured by language, contributors stand in a block
 * beside the tree; links that files change together are drawn, a contributor's links to the files
 * they changed show when a node is selected (or all of them, from the legend). The largest nodes
 * keep a readable label at any zoom; the others are labelled once zoomed in. The slider replays
 * the history: at time t only what existed by t is shown. Served at /viz/{id} (asks for an API
 * key; `#key=` in the URL also works, it never reaches the server), /share/{share_id} and
 * /embed/{id or share_id}. A share link is read without any credential or cookie.
 */
/* global cytoscape */
(function () {
  'use strict';
  const [mode, id] = location.pathname.split('/').filter(Boolean);
  const $ = (sel) => document.querySelector(sel);
  const state = { ready: false, nodeCount: 0, edgeCount: 0, visibleNodes: 0, error: null, labelled: [] };
  window.vizViewer = state;

  /** Colours: every one used is listed in the legend. */
  const COLOR = { directory: '#5b8def', contributor: '#f2b134', authored: '#f2b134', co_changed: '#e879f9', otherLanguage: '#8b949e', noLanguage: '#5c6370' };
  const LANGUAGE_COLORS = ['#7fd1ae', '#e06c75', '#56b6c2', '#98c379', '#d19a66', '#b392f0', '#f78c6c', '#89ddff', '#c3e88d', '#ff9cac'];
  /** How many files and contributors (the largest) are labelled at every zoom, and at what size on screen. */
  const TOP_LABELS = 15;
  const TOP_DIRECTORIES = 8;
  const LABEL_PX = 12;
  const BASE_FONT = { file: 9, contributor: 10, directory: 11 };

  function say(text) {
    $('#message').hidden = false;
    $('#message').textContent = text;
  }

  /** The error state: what went wrong and what to do; no graph, no legend, no history slider. */
  function fail(code, title, text) {
    state.error = code;
    document.body.dataset.state = 'error';
    for (const sel of ['#graph', '#controls', '#message', '#key-form']) $(sel).hidden = true;
    $('#error-title').textContent = title;
    $('#error-text').textContent = text;
    $('#error').hidden = false;
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
    form.hidden = false;
    form.onsubmit = (e) => {
      e.preventDefault();
      sessionStorage.setItem('codex-viz-key', $('#key').value.trim());
      form.hidden = true;
      load();
    };
  }

  async function fetchData() {
    // A share link is the only thing a visitor holds: no key, no cookie goes with it.
    if (/^shr_/.test(id)) return fetch(`/v1/shared/${encodeURIComponent(id)}`, { credentials: 'omit' });
    const key = keyFromPage();
    if (!key) return null;
    return fetch(`/v1/visualize/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${key}` }, credentials: 'omit' });
  }

  async function load() {
    if (!id || !['viz', 'share', 'embed'].includes(mode)) return fail('no_visualization', 'No visualization here', 'This address names no visualization: open a /viz/{id} or /share/{share_id} link.');
    let res;
    try {
      res = await fetchData();
    } catch {
      return fail('unreachable', 'The server could not be reached', 'Check the connection and reload the page.');
    }
    if (!res) return askForKey('This visualization needs an API key (or open a share link instead).');
    const body = await res.json().catch(() => null);
    if (res.status === 401 || res.status === 403) {
      sessionStorage.removeItem('codex-viz-key');
      return askForKey(body?.error?.message ?? 'The key was not accepted.');
    }
    if (!res.ok) {
      const code = body?.error?.code ?? String(res.status);
      const message = body?.error?.message ?? `The visualization could not be loaded (HTTP ${res.status}).`;
      if (code === 'share_expired' || code === 'share_revoked') return fail(code, 'This share link no longer works', message);
      if (res.status === 404) return fail(code, 'Visualization not found', `${message} Check the link, or ask its owner for a new one.`);
      return fail(code, 'The visualization could not be loaded', message);
    }
    if (body.status === 'processing') {
      say('The repository is being analysed…');
      return setTimeout(load, 2000);
    }
    if (body.status === 'failed') return fail('failed', 'The analysis failed', body.error ?? 'No reason was recorded.');
    render(body);
  }

  const time = (iso) => (iso ? Date.parse(iso) : null);

  /** The ten languages with the most files get a colour each; the rest share one. */
  function languageColors(nodes) {
    const count = new Map();
    for (const n of nodes) if (n.type === 'file' && n.language) count.set(n.language, (count.get(n.language) ?? 0) + 1);
    const ranked = [...count].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return new Map(ranked.slice(0, LANGUAGE_COLORS.length).map(([l], i) => [l, LANGUAGE_COLORS[i]]));
  }

  /**
   * Directories as nested boxes: each directory's files and subdirectories are packed in rows
   * inside it (largest first), so a folder is one cluster and its size shows how much it holds.
   * A directory is drawn as a box of that size behind its contents (a plain node: Cytoscape's
   * compound nodes are far slower with thousands of links). Contributors stand in a block to the
   * right of the tree. Deterministic, O(n log n). Returns each node's centre and each box's size.
   */
  function packedLayout(nodes, byId, sizeOf) {
    const GAP = 14;
    const PAD = 12;
    const LABEL = 18;
    const children = new Map();
    let root = null;
    for (const n of nodes) {
      if (n.type === 'contributor') continue;
      if (!n.parent || !byId.has(n.parent)) root = root ?? n;
      else (children.get(n.parent) ?? children.set(n.parent, []).get(n.parent)).push(n);
    }
    const positions = {};
    const boxes = {};
    const box = (n) => {
      const kids = children.get(n.id) ?? [];
      if (n.type !== 'directory' || !kids.length) {
        const s = sizeOf(n);
        return { w: s + GAP, h: s + LABEL + GAP, place: (x, y) => (positions[n.id] = { x: x + (s + GAP) / 2, y: y + (s + GAP) / 2 }) };
      }
      const items = kids.map(box).sort((a, b) => b.h - a.h);
      const area = items.reduce((sum, b) => sum + b.w * b.h, 0);
      const limit = items.reduce((m, b) => Math.max(m, b.w), Math.sqrt(area) * 1.3);
      let x = 0;
      let y = 0;
      let rowH = 0;
      let width = 0;
      const at = [];
      for (const b of items) {
        if (x > 0 && x + b.w > limit) {
          y += rowH;
          x = 0;
          rowH = 0;
        }
        at.push([b, x, y]);
        x += b.w;
        rowH = Math.max(rowH, b.h);
        width = Math.max(width, x);
      }
      const w = width + 2 * PAD + GAP;
      const h = y + rowH + 2 * PAD + LABEL + GAP;
      return {
        w,
        h,
        place: (ox, oy) => {
          // The box itself, below the room its label takes; its contents inside, PAD from its edges.
          boxes[n.id] = { w: w - GAP, h: h - GAP - LABEL };
          positions[n.id] = { x: ox + w / 2, y: oy + GAP / 2 + LABEL + (h - GAP - LABEL) / 2 };
          at.forEach(([b, bx, by]) => b.place(ox + PAD + GAP / 2 + bx, oy + PAD + LABEL + GAP / 2 + by));
        },
      };
    };
    let treeW = 0;
    let treeH = 0;
    if (root) {
      const b = box(root);
      b.place(0, 0);
      treeW = b.w;
      treeH = b.h;
    }
    const people = nodes.filter((n) => n.type === 'contributor').sort((a, b) => b.commits - a.commits);
    const cellW = 110;
    const cellH = people.reduce((m, n) => Math.max(m, sizeOf(n)), 0) + LABEL + GAP;
    const rows = Math.max(1, Math.floor(treeH / cellH), Math.ceil(Math.sqrt(people.length)));
    people.forEach((n, i) => {
      positions[n.id] = { x: treeW + 60 + Math.floor(i / rows) * cellW + cellW / 2, y: (i % rows) * cellH + cellH / 2 };
    });
    return { positions, boxes };
  }

  function legendItem(list, color, shape) {
    const li = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = `swatch ${shape ?? ''}`.trim();
    swatch.style.backgroundColor = color;
    li.append(swatch);
    li.dataset.color = color;
    list.append(li);
    return li;
  }

  function buildLegend(nodes, edges, colors, cy) {
    const nodeList = $('#legend-nodes');
    const edgeList = $('#legend-edges');
    nodeList.replaceChildren();
    edgeList.replaceChildren();
    legendItem(nodeList, COLOR.directory, 'box').append('directory (a box around its contents)');
    const files = nodes.filter((n) => n.type === 'file');
    for (const [language, color] of colors) legendItem(nodeList, color).append(`${language} file`);
    if (files.some((n) => n.language && !colors.has(n.language))) legendItem(nodeList, COLOR.otherLanguage).append('file, another language');
    if (files.some((n) => !n.language)) legendItem(nodeList, COLOR.noLanguage).append('file, no language (data, images…)');
    if (nodes.some((n) => n.type === 'contributor')) legendItem(nodeList, COLOR.contributor).append('contributor (size: commits)');
    const note = document.createElement('li');
    note.textContent = 'file size: churn (lines added + deleted)';
    nodeList.append(note);
    const kinds = [
      ['authored', 'authored (contributor → file)', 'line', false],
      ['co_changed', 'changed together', 'line dashed', true],
    ];
    for (const [type, label, shape, shown] of kinds) {
      if (!edges.some((e) => e.type === type)) continue;
      const li = legendItem(edgeList, COLOR[type], shape);
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.checked = shown;
      input.id = `show-${type}`;
      const label_ = document.createElement('label');
      label_.htmlFor = input.id;
      label_.textContent = label;
      input.onchange = () => cy.edges(`.${type}`).toggleClass('off', !input.checked);
      li.append(input, label_);
      cy.edges(`.${type}`).toggleClass('off', !shown);
    }
    if (!edgeList.children.length) {
      const none = document.createElement('li');
      none.textContent = 'none';
      edgeList.append(none);
    }
    // On a narrow page (a small embed) the legend starts folded; the graph takes the room it leaves.
    $('#legend').ontoggle = () => cy.resize();
    if (window.innerWidth < 700) $('#legend').open = false;
  }

  function render(v) {
    const { nodes, edges } = v.data;
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const maxChurn = Math.max(1, ...nodes.filter((n) => n.type === 'file').map((n) => n.churn));
    const maxCommits = Math.max(1, ...nodes.filter((n) => n.type === 'contributor').map((n) => n.commits));
    const sizeOf = (n) => (n.type === 'file' ? 10 + 40 * Math.sqrt(n.churn / maxChurn) : n.type === 'contributor' ? 16 + 34 * Math.sqrt(n.commits / maxCommits) : 30);
    const colors = languageColors(nodes);
    const colorOf = (n) =>
      n.type === 'directory' ? COLOR.directory : n.type === 'contributor' ? COLOR.contributor : n.language ? (colors.get(n.language) ?? COLOR.otherLanguage) : COLOR.noLanguage;
    const degree = new Map();
    for (const e of edges) for (const end of [e.source, e.target]) degree.set(end, (degree.get(end) ?? 0) + 1);

    // The nodes that keep their label at every zoom: the largest files and contributors (size, then
    // links), the root and the largest directories under it.
    const rootId = nodes.find((n) => n.type === 'directory' && (!n.parent || !byId.has(n.parent)))?.id;
    const top = new Set(
      nodes
        .filter((n) => n.type !== 'directory')
        .sort((a, b) => sizeOf(b) - sizeOf(a) || (degree.get(b.id) ?? 0) - (degree.get(a.id) ?? 0) || (a.id < b.id ? -1 : 1))
        .slice(0, TOP_LABELS)
        .map((n) => n.id),
    );
    if (rootId) top.add(rootId);
    nodes
      .filter((n) => n.type === 'directory' && n.parent === rootId)
      .sort((a, b) => (b.files ?? 0) - (a.files ?? 0) || (a.id < b.id ? -1 : 1))
      .slice(0, TOP_DIRECTORIES)
      .forEach((n) => top.add(n.id));

    const { positions, boxes } = packedLayout(nodes, byId, sizeOf);
    const depth = (n) => (n.parent && byId.has(n.parent) ? 1 + depth(byId.get(n.parent)) : 0);
    const elements = [];
    for (const n of nodes) {
      const b = boxes[n.id] ?? { w: sizeOf(n), h: sizeOf(n) };
      elements.push({
        group: 'nodes',
        data: { id: n.id, label: n.name || '/', kind: n.type, w: b.w, h: b.h, z: n.type === 'directory' ? depth(n) : 1000, color: colorOf(n), fs: BASE_FONT[n.type], first: time(n.first_commit_at) },
        classes: `${n.type}${top.has(n.id) ? ' top' : ''}`,
        position: positions[n.id],
      });
    }
    edges.forEach((e, i) => elements.push({ group: 'edges', data: { id: `e${i}`, source: e.source, target: e.target, first: time(e.first_commit_at), weight: e.commits }, classes: e.type }));

    $('#message').hidden = true;
    $('#graph').hidden = false;
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
        {
          selector: 'node',
          style: {
            width: 'data(w)',
            height: 'data(h)',
            'background-color': 'data(color)',
            label: 'data(label)',
            color: '#c9d1d9',
            'font-size': 'data(fs)',
            'text-valign': 'bottom',
            'text-margin-y': 2,
            'min-zoomed-font-size': 7,
            'z-index': 'data(z)',
          },
        },
        { selector: 'node.top', style: { color: '#ffffff', 'font-weight': 600, 'text-outline-color': '#0f1419', 'text-outline-width': 2 } },
        {
          selector: 'node.directory',
          style: { shape: 'round-rectangle', 'background-opacity': 0.08, 'border-color': 'data(color)', 'border-width': 1, 'border-opacity': 0.6, 'text-valign': 'top', 'text-margin-y': -2, color: '#9fc0ff' },
        },
        { selector: 'edge', style: { width: 1, 'curve-style': 'haystack', 'haystack-radius': 0, opacity: 0.45 } },
        { selector: 'edge.authored', style: { 'line-color': COLOR.authored, opacity: 0.3 } },
        { selector: 'edge.co_changed', style: { 'line-color': COLOR.co_changed, 'line-style': 'dashed', 'curve-style': 'straight' } },
        { selector: 'edge.off', style: { display: 'none' } },
        { selector: 'edge.focus', style: { display: 'element', opacity: 0.9, width: 2 } },
        { selector: 'node:selected', style: { 'border-width': 2, 'border-color': '#ffffff' } },
        { selector: '.future', style: { display: 'none' } },
      ],
      layout: { name: 'preset', fit: true, padding: 24 },
    });

    // The largest nodes' labels stay LABEL_PX on screen when zoomed out (and grow when zoomed in).
    const labelled = cy.nodes('.top');
    const fitLabels = () => {
      const z = cy.zoom();
      cy.batch(() => labelled.forEach((n) => n.data('fs', Math.max(BASE_FONT[n.data('kind')], LABEL_PX / z))));
    };
    cy.on('zoom', fitLabels);
    fitLabels();
    buildLegend(nodes, edges, colors, cy);

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

    // Details of a node on tap, and its links (textContent only: paths and names are data, never markup).
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
      cy.edges('.focus').removeClass('focus');
      e.target.connectedEdges().addClass('focus');
    });
    cy.on('tap', (e) => {
      if (e.target !== cy) return;
      $('#info').hidden = true;
      cy.edges('.focus').removeClass('focus');
    });

    state.nodeCount = cy.nodes().length;
    state.edgeCount = cy.edges().length;
    state.labelled = labelled.map((n) => n.id());
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
