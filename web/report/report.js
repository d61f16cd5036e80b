// tokenfactory report: renders result documents (schema tokenfactory.<kind>/<version>) as charts
// and tables with ECharts. Used by the offline HTML report (documents embedded in the page) and
// by the web app (documents fetched from the JSON API). No network access: everything it needs is
// inlined by the C++ side (src/report/html.cpp).
(function () {
  'use strict';

  const TF = {};
  window.TF = TF;
  // What the page rendered, for tests and for the curious: one entry per chart.
  TF.state = { charts: [], errors: [] };

  // ---------- small helpers ----------
  const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf',
    '#bcbd22', '#7f7f7f', '#393b79', '#ad494a', '#637939', '#8c6d31', '#843c39', '#7b4173', '#3182bd', '#e6550d'];
  const colourOf = {};
  function colour(key) {
    if (!(key in colourOf)) colourOf[key] = PALETTE[Object.keys(colourOf).length % PALETTE.length];
    return colourOf[key];
  }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }
  function fmt(v, digits) {
    if (v == null || !isFinite(v)) return '-';
    const d = digits == null ? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2) : digits;
    return v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  }
  function sig(v) {
    if (v == null || !isFinite(v)) return '-';
    return Number(v.toPrecision(4)).toLocaleString('en-US', { maximumFractionDigits: 6 });
  }
  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  }
  function csvCell(v) {
    if (v == null || (typeof v === 'number' && !isFinite(v))) return '';
    const s = String(v);
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function download(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type: type || 'text/csv' }));
    const a = el('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  function provenanceShort(p) {
    if (!p || !p.efficiency) return 'unknown';
    const e = p.efficiency;
    if (e.status === 'calibrated') return 'calibrated';
    if (e.status === 'inherited') return 'inherited from ' + e.values_from;
    return e.status || 'default';
  }
  function isCalibrated(p) { return p && p.efficiency && p.efficiency.status === 'calibrated'; }
  // "h100-sxm" or "mi455x *" (not calibrated on its own measurements).
  function systemLabel(id, p) { return isCalibrated(p) ? id : id + ' *'; }
  function describeConfig(c) {
    if (!c) return '';
    if (typeof c === 'string') return c;
    const parts = [`${c.chips} chips`, `TP${c.tp}`, `PP${c.pp}`];
    if (c.ep > 1) parts.push(`EP${c.ep}`);
    if (c.dp > 1) parts.push(`DP${c.dp}${c.attention_dp ? ' (attention DP)' : ''}`);
    parts.push(`weights ${c.weights}, activations ${c.activations}, KV ${c.kv}`);
    if (c.launch && c.launch !== 'graphs') parts.push(c.launch + ' launch');
    return parts.join(' ');
  }

  // A chart card: title, a line of explanation, controls, the chart, a CSV download of its data.
  // `build()` returns {option, csv: {header, rows}}; it is called again when a control changes.
  function chartCard(parent, spec) {
    const id = 'chart-' + (TF.state.charts.length + 1);
    const box = el('div', { class: 'tf-chart', id, 'data-title': spec.title });
    if (spec.height) box.style.height = spec.height + 'px';
    const controls = el('div', { class: 'controls' });
    const card = el('section', { class: 'card' },
      el('h3', { text: spec.title }),
      spec.subtitle ? el('p', { class: 'subtitle', text: spec.subtitle }) : null,
      controls, box);
    parent.append(card);
    const chart = echarts.init(box, null, { renderer: 'canvas' });
    const entry = { id, title: spec.title, series: 0, points: 0, rendered: false };
    TF.state.charts.push(entry);
    let csv = { header: [], rows: [] };
    function render() {
      const built = spec.build();
      csv = built.csv;
      chart.setOption(built.option, true);
      entry.series = (built.option.series || []).length;
      entry.points = (built.option.series || []).reduce((n, s) => n + ((s.data || []).length), 0);
      entry.rendered = true;
      box.setAttribute('data-rendered', 'true');
      box.setAttribute('data-points', String(entry.points));
    }
    for (const c of spec.controls || []) controls.append(c(render));
    controls.append(el('button', {
      class: 'csv', type: 'button', text: 'Download CSV',
      onclick: () => download((spec.file || id) + '.csv',
        [csv.header.map(csvCell).join(','), ...csv.rows.map((r) => r.map(csvCell).join(','))].join('\n') + '\n'),
    }));
    render();
    window.addEventListener('resize', () => chart.resize());
    return { chart, render };
  }
  // A <select> control: options [[value, label]], calls onChange(value) then re-renders.
  function select(label, options, initial, onChange) {
    return (render) => {
      const s = el('select', { 'aria-label': label });
      for (const [v, t] of options) s.append(el('option', { value: v, text: t }));
      s.value = initial;
      s.addEventListener('change', () => { onChange(s.value); render(); });
      return el('label', {}, label + ' ', s);
    };
  }
  function numberInput(label, initial, onChange) {
    return (render) => {
      const i = el('input', { type: 'number', min: '0', step: 'any', value: String(initial), 'aria-label': label });
      i.addEventListener('change', () => { const v = Number(i.value); if (isFinite(v) && v >= 0) { onChange(v); render(); } });
      return el('label', {}, label + ' ', i);
    };
  }
  function table(headers, rows, opts) {
    const t = el('table', { class: 'data' + (opts && opts.cls ? ' ' + opts.cls : '') });
    const thead = el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { text: h }))));
    const tbody = el('tbody');
    for (const r of rows) {
      const tr = el('tr', r.cls ? { class: r.cls } : {});
      for (const c of r.cells || r) tr.append(el('td', { text: c == null ? '-' : String(c) }));
      tbody.append(tr);
    }
    t.append(thead, tbody);
    return t;
  }
  const axisName = { nameLocation: 'middle', nameGap: 32 };
  function logAxisMin(values) {
    const pos = values.filter((v) => v > 0 && isFinite(v));
    return pos.length ? Math.pow(10, Math.floor(Math.log10(Math.min(...pos)))) : 1;
  }

  // ---------- frontier ----------
  const METRICS = {
    chip: { key: 'output_tok_s_per_chip', label: 'output tokens/s per chip', digits: 0 },
    mw: { key: 'output_tok_s_per_mw', label: 'output tokens/s per MW (facility power)', digits: 0 },
    usd: { key: 'output_tokens_per_usd', label: 'output tokens per USD of chip time', digits: 0 },
  };

  // Best frontier point at or above a per-user speed, by a metric (nullptr when none reaches it).
  function bestAt(sys, user, key) {
    let best = null;
    for (const p of sys.points) {
      if (p.output_tok_s_per_user < user || p[key] == null) continue;
      if (!best || p[key] > best[key]) best = p;
    }
    return best;
  }
  function ceilingAt(sys, user, key) {
    let best = null;
    for (const c of sys.ceiling) {
      if (c.output_tok_s_per_user < user || c[key] == null) continue;
      if (best == null || c[key] > best) best = c[key];
    }
    return best;
  }

  TF.bestAt = bestAt;

  TF.renderFrontier = function (parent, doc, options) {
    const opts = Object.assign({ per: 'chip', xlog: false, target: 50, view: 'frontier' }, options || {});
    const wl = doc.workload || {};
    const section = el('section', { class: 'doc', 'data-schema': doc.schema });
    section.append(el('h2', { text: `Frontier: ${doc.model}, ${wl.isl} in / ${wl.osl} out tokens per request` }),
      el('p', { class: 'lede', text: `Throughput against interactivity for ${doc.systems.length} systems, sweeping layouts, ` +
        `precisions (${(doc.precisions || []).join(', ')}) and concurrency up to the memory limit. Solid: the best ` +
        `configuration at each speed (Pareto frontier); dashed: the first-principles ceiling (memory capacity x ` +
        `bandwidth, peak FLOP/s, no overheads). Economics: ${doc.economics} preset, price basis ` +
        `${doc.price_basis || 'owned'}, PUE ${doc.pue}. Systems marked * are not calibrated on their own measurements.` }));
    parent.append(section);

    // Winners at the target interactivity.
    const winners = el('section', { class: 'card' });
    function renderWinners() {
      winners.replaceChildren();
      const m = METRICS[opts.per];
      winners.append(el('h3', { text: `Who wins at >= ${fmt(opts.target, 0)} tokens/s per user` }),
        el('p', { class: 'subtitle', text: `Ranked by ${m.label}; each system at its best configuration that is at least ` +
          `this fast. Change the target or the metric above the frontier chart.` }));
      const rows = doc.systems.map((s) => ({ s, p: bestAt(s, opts.target, m.key) }));
      rows.sort((a, b) => (b.p ? b.p[m.key] : -1) - (a.p ? a.p[m.key] : -1));
      const body = rows.map(({ s, p }, i) => ({
        cls: i === 0 && p ? 'winner' : '',
        cells: [s.hardware + (i === 0 && p ? '  (wins)' : ''),
          p ? fmt(p.output_tok_s_per_chip, 0) : '-', p ? fmt(p.output_tok_s_per_mw, 0) : '-',
          p && p.usd_per_mtok_total != null ? fmt(p.usd_per_mtok_total, 3) : '-',
          p ? fmt(p.output_tok_s_per_user, 1) : '-',
          p ? fmt(ceilingAt(s, opts.target, 'output_tok_s_per_chip'), 0) : '-',
          p ? describeConfig(p.config) : (s.note || 'does not reach this speed'),
          provenanceShort(s.provenance) + '; ' + (s.provenance ? s.provenance.hardware_status : '')],
      }));
      winners.append(table(['system', 'out tok/s per chip', 'out tok/s per MW', 'USD per Mtok', 'tok/s per user',
        'ceiling tok/s per chip', 'configuration', 'provenance'], body, { cls: 'winners' }));
    }

    chartCard(section, {
      title: 'Throughput vs interactivity', file: 'frontier',
      subtitle: 'Hover a point for its configuration. Click a legend entry to hide a system (its ceiling goes with it).',
      controls: [
        select('y axis', [['chip', 'per chip'], ['mw', 'per MW'], ['usd', 'per USD']], opts.per, (v) => { opts.per = v; renderWinners(); }),
        select('x axis', [['lin', 'linear'], ['log', 'log']], opts.xlog ? 'log' : 'lin', (v) => { opts.xlog = v === 'log'; }),
        select('range', [['frontier', 'fit the frontiers'], ['ceiling', 'whole ceiling']], opts.view, (v) => { opts.view = v; }),
        numberInput('target tok/s/user', opts.target, (v) => { opts.target = v; renderWinners(); }),
      ],
      build: () => {
        const m = METRICS[opts.per];
        const series = [];
        const csvRows = [];
        for (const s of doc.systems) {
          const name = systemLabel(s.hardware, s.provenance);
          const c = colour(s.hardware);
          const pts = s.points.filter((p) => p[m.key] != null);
          series.push({
            id: s.hardware + ':frontier', name, type: 'line', showSymbol: true, symbol: 'circle', symbolSize: 5, color: c,
          lineStyle: { width: 2 },
            data: pts.map((p) => ({ value: [p.output_tok_s_per_user, p[m.key]], p, sys: s })),
          });
          const ceil = s.ceiling.filter((p) => p[m.key] != null);
          series.push({
            id: s.hardware + ':ceiling', name, type: 'line', showSymbol: false, color: c,
            lineStyle: { type: 'dashed', width: 1.2, opacity: 0.7 },
            data: ceil.map((p) => ({ value: [p.output_tok_s_per_user, p[m.key]], ceiling: p, sys: s })),
          });
          for (const p of s.points)
            csvRows.push([s.hardware, 'frontier', p.output_tok_s_per_user, p[m.key], p.concurrency, p.ttft_ms, p.tpot_ms,
              p.usd_per_mtok_total, p.bound_by, describeConfig(p.config), provenanceShort(s.provenance)]);
          for (const p of s.ceiling)
            csvRows.push([s.hardware, 'ceiling', p.output_tok_s_per_user, p[m.key], p.concurrency, '', '', '', '', '',
              provenanceShort(s.provenance)]);
        }
        if (series.length) series[0].markLine = {
          silent: true, symbol: 'none', lineStyle: { color: '#555', type: 'dotted' },
          label: { formatter: `target ${fmt(opts.target, 0)} tok/s/user` }, data: [{ xAxis: opts.target }],
        };
        const allX = series.flatMap((s) => s.data.map((d) => d.value[0]));
        // 'frontier': axes fit the frontier points with headroom and the ceilings run off the
        // chart's edges; 'ceiling': the whole ceiling curves.
        const front = series.filter((s) => s.id.endsWith(':frontier')).flatMap((s) => s.data.map((d) => d.value));
        const fit = opts.view === 'frontier' && front.length > 0;
        const nice = (v) => { const e = Math.pow(10, Math.floor(Math.log10(v))); return Math.ceil(v / e * 2) / 2 * e; };
        const xMax = fit ? nice(1.25 * Math.max(...front.map((v) => v[0]), opts.target)) : undefined;
        const yMax = fit ? nice(1.25 * Math.max(...front.map((v) => v[1]))) : undefined;
        return {
          option: {
            animation: false,
            grid: { left: 80, right: 30, top: 60, bottom: 60 },
            legend: { type: 'scroll', top: 0, data: doc.systems.map((s) => systemLabel(s.hardware, s.provenance)) },
            tooltip: {
              trigger: 'item', confine: true, formatter: (it) => {
                const d = it.data;
                if (d.ceiling) return `<b>${escapeHtml(d.sys.hardware)} ceiling</b><br>${fmt(d.ceiling.output_tok_s_per_user, 1)} tok/s/user, ` +
                  `${fmt(d.value[1], 0)} ${m.label}<br>concurrency ${fmt(d.ceiling.concurrency, 0)}`;
                const p = d.p;
                return `<b>${escapeHtml(d.sys.hardware)}</b> (${escapeHtml(provenanceShort(d.sys.provenance))})<br>` +
                  `${fmt(p.output_tok_s_per_user, 1)} tok/s/user, ${fmt(d.value[1], 0)} ${m.label}<br>` +
                  `${escapeHtml(describeConfig(p.config))}<br>concurrency ${fmt(p.concurrency, 0)}, TTFT ${fmt(p.ttft_ms, 0)} ms, ` +
                  `TPOT ${fmt(p.tpot_ms, 1)} ms, bound by ${escapeHtml(p.bound_by)}<br>` +
                  `USD per Mtok ${p.usd_per_mtok_total != null ? fmt(p.usd_per_mtok_total, 3) : '- (no price on this basis)'}`;
              },
            },
            xAxis: Object.assign({ type: opts.xlog ? 'log' : 'value', name: 'output tokens/s per user', min: opts.xlog ? logAxisMin(allX) : 0, max: xMax }, axisName),
            yAxis: Object.assign({ type: 'value', name: m.label, nameGap: 60, min: 0, max: yMax }, axisName),
            dataZoom: [{ type: 'inside', xAxisIndex: 0 }, { type: 'inside', yAxisIndex: 0 }],
            series,
          },
          csv: { header: ['system', 'kind', 'output_tok_s_per_user', m.key, 'concurrency', 'ttft_ms', 'tpot_ms',
            'usd_per_mtok_total', 'bound_by', 'config', 'provenance'], rows: csvRows },
        };
      },
    });
    section.append(winners);
    renderWinners();

    const unpriced = doc.systems.filter((s) => !s.points.some((p) => p.usd_per_mtok_total != null)).map((s) => s.hardware);
    chartCard(section, {
      title: 'Cost per million tokens vs interactivity', file: 'usd-per-mtok',
      subtitle: `USD per million tokens (input and output, ${doc.price_basis || 'owned'} price basis) along each frontier.` +
        (unpriced.length ? ` Left out, no price on this basis: ${unpriced.join(', ')}.` : ''),
      build: () => {
        const series = [];
        const rows = [];
        for (const s of doc.systems) {
          const pts = s.points.filter((p) => p.usd_per_mtok_total != null && p.usd_per_mtok_total > 0);
          if (!pts.length) continue;
          series.push({
            id: s.hardware + ':usd', name: systemLabel(s.hardware, s.provenance), type: 'line', showSymbol: true,
            symbol: 'circle', symbolSize: 5, color: colour(s.hardware),
            data: pts.map((p) => ({ value: [p.output_tok_s_per_user, p.usd_per_mtok_total], p, sys: s })),
          });
          for (const p of pts) rows.push([s.hardware, p.output_tok_s_per_user, p.usd_per_mtok_total, p.usd_per_mtok_input,
            p.usd_per_mtok_output, p.pricing, describeConfig(p.config), provenanceShort(s.provenance)]);
        }
        return {
          option: {
            animation: false,
            grid: { left: 80, right: 30, top: 60, bottom: 60 },
            legend: { type: 'scroll', top: 0 },
            tooltip: {
              trigger: 'item', confine: true, formatter: (it) => {
                const p = it.data.p;
                return `<b>${escapeHtml(it.data.sys.hardware)}</b><br>${fmt(p.output_tok_s_per_user, 1)} tok/s/user<br>` +
                  `USD per Mtok: ${fmt(p.usd_per_mtok_total, 3)} (input ${fmt(p.usd_per_mtok_input, 3)}, output ${fmt(p.usd_per_mtok_output, 3)})<br>` +
                  `${escapeHtml(describeConfig(p.config))}`;
              },
            },
            xAxis: Object.assign({ type: 'value', name: 'output tokens/s per user', min: 0 }, axisName),
            yAxis: Object.assign({ type: 'log', name: 'USD per million tokens', nameGap: 60 }, axisName),
            series,
          },
          csv: { header: ['system', 'output_tok_s_per_user', 'usd_per_mtok_total', 'usd_per_mtok_input', 'usd_per_mtok_output',
            'pricing', 'config', 'provenance'], rows },
        };
      },
    });

    section.append(provenanceTable(doc.systems.map((s) => ({ id: s.hardware, p: s.provenance, note: s.note }))));
  };

  function provenanceTable(items) {
    const card = el('section', { class: 'card' }, el('h3', { text: 'Where each system\'s numbers come from' }),
      el('p', { class: 'subtitle', text: 'calibrated: efficiencies fitted on this family\'s measurements (with their ' +
        'cross-validated median error); inherited: taken from a sibling family; default: published anchors only. ' +
        'Hardware status: shipping, announced (datasheet figures before shipment) or legacy.' }));
    card.append(table(['system', 'efficiency', 'software', 'hardware figures', 'note'],
      items.map(({ id, p, note }) => [id, p && p.efficiency ? p.efficiency.summary : '-',
        p && p.software ? p.software.summary : '-', p ? p.hardware_status : '-', note || ''])));
    return card;
  }

  // ---------- generations ----------
  TF.renderGenerations = function (parent, doc) {
    const wl = doc.workload || {};
    const section = el('section', { class: 'doc', 'data-schema': doc.schema });
    parent.append(section);
    section.append(el('h2', { text: `Generations: ${doc.model} at >= ${doc.tok_s_per_user} tokens/s per user` }),
      el('p', { class: 'lede', text: `Each generation's best output tokens/s per chip at this interactivity ` +
        `(${wl.isl} in / ${wl.osl} out), against on-package memory capacity x bandwidth, on log-log axes, with the ` +
        `least-squares fit: throughput ~ (capacity x bandwidth)^${fmt(doc.fit.slope, 2)} (R^2 ${fmt(doc.fit.r2, 2)}, n = ${doc.fit.n}).` }));
    const rows = doc.rows.filter((r) => r.output_tok_s_per_chip > 0);
    chartCard(section, {
      title: 'Throughput per chip vs memory capacity x bandwidth', file: 'generations',
      subtitle: 'x: HBM GB x TB/s per chip; y: output tokens/s per chip. Solid lines join each vendor line in order; dotted: each line\'s own log-log fit; dashed: the fit over all rows.',
      build: () => {
        const byLine = {};
        for (const r of rows) (byLine[r.line] = byLine[r.line] || []).push(r);
        const series = Object.entries(byLine).map(([line, rs]) => ({
          id: 'line:' + line, name: line, type: 'line', color: colour('line:' + line), symbolSize: 9,
          label: { show: true, position: 'right', fontSize: 10, formatter: (it) => it.data.r.hardware + (isCalibrated(it.data.r.provenance) ? '' : ' *') },
          data: rs.map((r) => ({ value: [r.capacity_x_bandwidth / 1e21, r.output_tok_s_per_chip], r })),
        }));
        const xs = rows.map((r) => r.capacity_x_bandwidth);
        if (xs.length >= 2 && doc.fit.n >= 2) {
          const lo = Math.min(...xs), hi = Math.max(...xs);
          const y = (x) => Math.pow(10, doc.fit.intercept) * Math.pow(x, doc.fit.slope);
          series.push({ id: 'fit', name: 'fit (all)', type: 'line', showSymbol: false, color: '#444',
            lineStyle: { type: 'dashed' }, data: [{ value: [lo / 1e21, y(lo)] }, { value: [hi / 1e21, y(hi)] }] });
        }
        // Each vendor line's own fit over its span, thin and dotted in the line's colour.
        for (const [line, f] of Object.entries(doc.fit_per_line || {})) {
          const rs = byLine[line] || [];
          if (f.n < 2 || rs.length < 2) continue;
          const lx = rs.map((r) => r.capacity_x_bandwidth);
          const lo = Math.min(...lx), hi = Math.max(...lx);
          const y = (x) => Math.pow(10, f.intercept) * Math.pow(x, f.slope);
          series.push({ id: 'fit:' + line, name: line, type: 'line', showSymbol: false, color: colour('line:' + line),
            lineStyle: { type: 'dotted', width: 1 }, fit: f,
            data: [{ value: [lo / 1e21, y(lo)], fit: f, line }, { value: [hi / 1e21, y(hi)], fit: f, line }] });
        }
        return {
          option: {
            animation: false,
            grid: { left: 80, right: 120, top: 50, bottom: 60 },
            legend: { top: 0 },
            tooltip: {
              trigger: 'item', confine: true, formatter: (it) => {
                const r = it.data.r;
                if (!r && it.data.fit) return `${escapeHtml(it.data.line)} fit: slope ${fmt(it.data.fit.slope, 2)}, R^2 ${fmt(it.data.fit.r2, 2)}, n = ${it.data.fit.n}`;
                if (!r) return `fit over all rows: slope ${fmt(doc.fit.slope, 2)}, R^2 ${fmt(doc.fit.r2, 2)}`;
                return `<b>${escapeHtml(r.hardware)}</b> (${escapeHtml(r.line)}; ${escapeHtml(provenanceShort(r.provenance))})<br>` +
                  `HBM ${fmt(r.hbm_capacity_bytes / 1e9, 0)} GB, ${fmt(r.hbm_bandwidth_bytes_per_s / 1e12, 2)} TB/s<br>` +
                  `${fmt(r.output_tok_s_per_chip, 0)} out tok/s per chip, ${fmt(r.output_tok_s_per_mw, 0)} per MW<br>` +
                  `USD per Mtok ${r.usd_per_mtok_total != null ? fmt(r.usd_per_mtok_total, 3) : '-'}<br>${escapeHtml(r.config)}`;
              },
            },
            xAxis: Object.assign({ type: 'log', name: 'HBM capacity x bandwidth per chip (GB x TB/s)', min: logAxisMin(xs.map((x) => x / 1e21)) }, axisName),
            yAxis: Object.assign({ type: 'log', name: 'output tokens/s per chip', nameGap: 60, min: logAxisMin(rows.map((r) => r.output_tok_s_per_chip)) }, axisName),
            series,
          },
          csv: { header: ['line', 'hardware', 'hbm_capacity_bytes', 'hbm_bandwidth_bytes_per_s', 'capacity_x_bandwidth',
            'output_tok_s_per_chip', 'output_tok_s_per_mw', 'usd_per_mtok_total', 'config', 'provenance'],
          rows: doc.rows.map((r) => [r.line, r.hardware, r.hbm_capacity_bytes, r.hbm_bandwidth_bytes_per_s, r.capacity_x_bandwidth,
            r.output_tok_s_per_chip, r.output_tok_s_per_mw, r.usd_per_mtok_total, r.config || r.note, provenanceShort(r.provenance)]) },
        };
      },
    });
    section.append(provenanceTable(doc.rows.map((r) => ({ id: r.hardware, p: r.provenance, note: r.output_tok_s_per_chip > 0 ? '' : r.note }))));
  };

  // ---------- validation ----------
  const LATENCY = /(ttft|tpot|e2e|itl|latency)/;
  TF.renderValidate = function (parent, doc) {
    const section = el('section', { class: 'doc', 'data-schema': doc.schema });
    parent.append(section);
    const s = doc.summary || {};
    const pct = (v) => (v == null ? '-' : fmt(v, 1) + '%');
    section.append(el('h2', { text: `Validation: ${doc.input ? doc.input.file : 'measured results'}` }),
      el('p', { class: 'lede', text: `${s.supported} of ${s.n} measured rows predicted (coverage outside Poisson-rate runs ` +
        `${pct(100 * (s.coverage || 0))}). Median absolute error: throughput ${pct(s.throughput && s.throughput.median_ape)}, ` +
        `latency ${pct(s.latency && s.latency.median_ape)}; efficiencies: ${doc.efficiency}. These are in-sample errors; ` +
        'cross-validated figures are in docs/accuracy.md.' }));
    const rows = (doc.rows || []).filter((r) => r.supported && r.predicted != null && r.measured > 0 && r.predicted > 0);
    chartCard(section, {
      title: 'Predicted vs measured', file: 'predicted-vs-measured',
      subtitle: 'Each measured row against its prediction, log-log; the diagonal is exact, the dashed lines +/-25%.',
      build: () => {
        const byMetric = {};
        for (const r of rows) (byMetric[r.metric] = byMetric[r.metric] || []).push(r);
        const series = Object.entries(byMetric).map(([metric, rs]) => ({
          id: 'metric:' + metric, name: metric + (LATENCY.test(metric) ? ' (latency)' : ' (throughput)'), type: 'scatter',
          symbolSize: 6, color: colour('metric:' + metric), data: rs.map((r) => ({ value: [r.measured, r.predicted], r })),
        }));
        const all = rows.flatMap((r) => [r.measured, r.predicted]);
        const lo = Math.min(...all), hi = Math.max(...all);
        for (const [name, f, dash] of [['exact', 1, 'solid'], ['+25%', 1.25, 'dashed'], ['-25%', 0.75, 'dashed']])
          series.push({ id: 'guide:' + name, name: 'guides', type: 'line', showSymbol: false, color: '#888', silent: true,
            lineStyle: { type: dash, width: 1 }, data: [{ value: [lo, lo * f] }, { value: [hi, hi * f] }] });
        return {
          option: {
            animation: false,
            grid: { left: 80, right: 30, top: 60, bottom: 60 },
            legend: { type: 'scroll', top: 0 },
            tooltip: {
              trigger: 'item', confine: true, formatter: (it) => {
                const r = it.data.r;
                if (!r) return escapeHtml(it.seriesName);
                return `<b>${escapeHtml(r.id)}</b> ${escapeHtml(r.hardware)}<br>${escapeHtml(r.model)}<br>${escapeHtml(r.scenario)}, ${escapeHtml(r.metric)}<br>` +
                  `measured ${sig(r.measured)}, predicted ${sig(r.predicted)} (error ${fmt(r.ape, 1)}%)`;
              },
            },
            xAxis: Object.assign({ type: 'log', name: 'measured (the metric\'s unit: tok/s, ms or s)', min: logAxisMin(all) }, axisName),
            yAxis: Object.assign({ type: 'log', name: 'predicted (same unit)', nameGap: 60, min: logAxisMin(all) }, axisName),
            series,
          },
          csv: { header: ['id', 'hardware', 'model', 'scenario', 'metric', 'measured', 'predicted', 'ape_pct'],
            rows: rows.map((r) => [r.id, r.hardware, r.model, r.scenario, r.metric, r.measured, r.predicted, r.ape]) },
        };
      },
    });
    if (s.by_hardware) {
      const entries = Object.entries(s.by_hardware).sort((a, b) => b[1].n - a[1].n);
      section.append(el('section', { class: 'card' }, el('h3', { text: 'Error by system' }),
        table(['system', 'rows', 'predicted', 'median error', 'p90 error', 'within 25%'],
          entries.map(([id, g]) => [id, g.n, g.supported, pct(g.median_ape), pct(g.p90_ape), pct(100 * g.within_25)]))));
    }
  };

  // ---------- plan ----------
  // The cheapest fleet per system that serves the demand at the SLO: cost per Mtok as bars (the
  // winner first), the fleet each implies (chips, racks, MW, HBM, capex) in a table, each system's
  // provenance beside it.
  TF.renderPlan = function (parent, doc) {
    const section = el('section', { class: 'doc', 'data-schema': doc.schema });
    parent.append(section);
    const slo = doc.slo || {};
    const limits = [`>= ${fmt(slo.min_tok_s_per_user, 0)} tok/s per user`];
    if (slo.max_ttft_ms > 0) limits.push(`TTFT <= ${fmt(slo.max_ttft_ms, 0)} ms`);
    if (slo.max_tpot_ms > 0) limits.push(`TPOT <= ${fmt(slo.max_tpot_ms, 0)} ms`);
    const systems = (doc.systems || []).slice().sort((a, b) => a.usd_per_mtok - b.usd_per_mtok);
    const b = doc.best;
    section.append(el('h2', { text: `Plan: ${doc.model}, ${fmt(doc.demand_output_tok_s, 0)} output tok/s` }),
      el('p', { class: 'lede', text: b
        ? `At ${limits.join(', ')} (${fmt(doc.workload.isl, 0)} in / ${fmt(doc.workload.osl, 0)} out, ${doc.price_basis} ` +
          `prices, economics ${doc.economics}) the cheapest fleet is ${fmt(b.chips, 0)} x ${b.hardware} ` +
          `(${describeConfig(b.config)}, ${fmt(b.replicas, 0)} replicas): ${sig(b.usd_per_mtok)} USD per Mtok, ` +
          `${sig(b.power_mw)} MW, ${sig(b.capex_usd / 1e6)} M USD capex.`
        : `No system serves this demand at ${limits.join(', ')}.` }));
    if (!systems.length) return;
    chartCard(section, {
      title: 'Cost per million output tokens of each system\'s cheapest fleet', file: 'plan-usd-per-mtok',
      subtitle: 'Each system at its cheapest configuration meeting the SLO, sized to the demand; * = not calibrated on its own measurements.',
      height: Math.max(240, 40 * systems.length + 80),
      build: () => ({
        option: {
          animation: false,
          grid: { left: 140, right: 40, top: 30, bottom: 50 },
          tooltip: {
            trigger: 'item', confine: true, formatter: (it) => {
              const f = it.data.f;
              return `<b>${escapeHtml(f.hardware)}</b> (${escapeHtml(provenanceShort(f.provenance))})<br>` +
                `${escapeHtml(describeConfig(f.config))}<br>${fmt(f.chips, 0)} chips in ${fmt(f.replicas, 0)} replicas, ` +
                `${fmt(f.racks, 0)} racks, ${sig(f.power_mw)} MW<br>${sig(f.usd_per_mtok)} USD/Mtok (${escapeHtml(f.pricing)}), ` +
                `${fmt(f.output_tok_s_per_user, 1)} tok/s per user, TTFT ${fmt(f.ttft_ms, 0)} ms`;
            },
          },
          xAxis: Object.assign({ type: 'value', name: 'USD per million output tokens' }, axisName),
          yAxis: { type: 'category', inverse: true, data: systems.map((f) => systemLabel(f.hardware, f.provenance)) },
          series: [{ id: 'usd_per_mtok', name: 'USD per Mtok', type: 'bar',
            data: systems.map((f) => ({ value: f.usd_per_mtok, f, itemStyle: { color: colour(f.hardware) } })) }],
        },
        csv: { header: ['hardware', 'config', 'replicas', 'chips', 'racks', 'power_mw', 'hbm_tb', 'capex_usd', 'opex_usd_per_year',
          'usd_per_mtok', 'pricing', 'output_tok_s_per_user', 'ttft_ms', 'tpot_ms', 'provenance'],
        rows: systems.map((f) => [f.hardware, describeConfig(f.config), f.replicas, f.chips, f.racks, f.power_mw, f.hbm_tb, f.capex_usd,
          f.opex_usd_per_year, f.usd_per_mtok, f.pricing, f.output_tok_s_per_user, f.ttft_ms, f.tpot_ms, provenanceShort(f.provenance)]) },
      }),
    });
    section.append(el('section', { class: 'card' }, el('h3', { text: 'The fleet each system needs' }),
      table(['system', 'configuration', 'chips', 'racks', 'MW', 'HBM TB', 'capex M USD', 'USD/Mtok', 'tok/s per user', 'provenance'],
        systems.map((f) => [systemLabel(f.hardware, f.provenance), describeConfig(f.config), fmt(f.chips, 0), fmt(f.racks, 0),
          sig(f.power_mw), sig(f.hbm_tb), sig(f.capex_usd / 1e6), sig(f.usd_per_mtok), fmt(f.output_tok_s_per_user, 1),
          provenanceShort(f.provenance) + '; ' + (f.provenance ? f.provenance.hardware_status : '')]))));
  };

  // ---------- simulation ----------
  function histogramSeries(h, name, colourKey) {
    return {
      id: 'hist:' + name, name, type: 'bar', barCategoryGap: '5%', color: colour(colourKey),
      data: h.counts.map((n, i) => ({ value: [(i + 0.5) * h.bin_width, n], lo: i * h.bin_width, hi: (i + 1) * h.bin_width })),
    };
  }
  TF.renderSimulate = function (parent, doc, title) {
    const section = el('section', { class: 'doc', 'data-schema': doc.schema });
    parent.append(section);
    const r = doc.result || {}, w = doc.workload || {}, mw = (doc.metrics && doc.metrics.whole_run) || {};
    section.append(el('h2', { text: title || `Simulation: ${doc.model} on ${doc.chips} x ${doc.hardware}` }),
      el('p', { class: 'lede', text: `${doc.deployment}; ${w.arrivals}, ${w.requests} requests, mean ${fmt(w.mean_input_tokens, 0)} in / ` +
        `${fmt(w.mean_output_tokens, 0)} out tokens. ${fmt(r.output_tok_s, 0)} output tok/s (${fmt(r.output_tok_s_per_chip, 0)} per chip); ` +
        `TTFT mean ${fmt(mw.mean_ttft_ms, 1)} ms, p99 ${fmt(mw.p99_ttft_ms, 1)} ms; TPOT mean ${fmt(mw.mean_tpot_ms, 2)} ms, ` +
        `p99 ${fmt(mw.p99_tpot_ms, 2)} ms. Efficiency: ${doc.provenance && doc.provenance.efficiency ? doc.provenance.efficiency.summary : '-'}.` }));
    const d = doc.distributions;
    if (d) {
      for (const [key, label, unit] of [['ttft_ms', 'Time to first token', 'ms'], ['tpot_ms', 'Time per output token (first excluded)', 'ms'],
        ['e2e_s', 'End-to-end latency', 's']]) {
        const h = d[key];
        if (!h || !h.requests) continue;
        chartCard(section, {
          title: `${label} distribution`, file: key + '-histogram', height: 280,
          subtitle: `${h.requests} requests in ${h.counts.length} bins of ${sig(h.bin_width)} ${unit}.`,
          build: () => ({
            option: {
              animation: false,
              grid: { left: 70, right: 30, top: 40, bottom: 60 },
              legend: { top: 0 },
              tooltip: { trigger: 'item', formatter: (it) => `${sig(it.data.lo)}-${sig(it.data.hi)} ${unit}: ${it.data.value[1]} requests` },
              xAxis: Object.assign({ type: 'value', name: `${label} (${unit})`, min: 0 }, axisName),
              yAxis: Object.assign({ type: 'value', name: 'requests', nameGap: 45 }, axisName),
              series: [histogramSeries(h, `requests by ${label.toLowerCase()}`, 'hist:' + key)],
            },
            csv: { header: [`bin_lo_${unit}`, `bin_hi_${unit}`, 'requests'],
              rows: h.counts.map((n, i) => [i * h.bin_width, (i + 1) * h.bin_width, n]) },
          }),
        });
      }
    }
    const t = doc.timeline;
    if (t && t.time_s && t.time_s.length) {
      chartCard(section, {
        title: 'KV cache in use and sequences in flight over time', file: 'kv-over-time',
        subtitle: t.definition + (t.complete ? '' : ' (the run was longer than the recorded timeline: later bins are incomplete)'),
        build: () => {
          const gb = (v) => v / 1e9;
          const series = [
            { id: 'kv-mean', name: 'KV GB per chip (mean over replicas)', type: 'line', showSymbol: false, color: colour('kv-mean'),
              data: t.time_s.map((x, i) => [x, gb(t.kv_bytes_per_chip_mean[i])]),
              markLine: { silent: true, symbol: 'none', lineStyle: { color: '#d62728', type: 'dashed' },
                label: { formatter: 'KV capacity' }, data: [{ yAxis: gb(t.kv_capacity_bytes_per_chip) }] } },
            { id: 'kv-max', name: 'KV GB per chip (busiest replica)', type: 'line', showSymbol: false, color: colour('kv-max'),
              lineStyle: { type: 'dotted' }, data: t.time_s.map((x, i) => [x, gb(t.kv_bytes_per_chip_max[i])]) },
            { id: 'running', name: 'sequences in flight per replica (mean)', type: 'line', showSymbol: false, yAxisIndex: 1,
              color: colour('running'), data: t.time_s.map((x, i) => [x, t.running_per_replica_mean[i]]) },
          ];
          return {
            option: {
              animation: false,
              grid: { left: 70, right: 70, top: 60, bottom: 60 },
              legend: { top: 0 },
              tooltip: { trigger: 'axis', valueFormatter: (v) => sig(v) },
              xAxis: Object.assign({ type: 'value', name: 'simulated time (s)', min: 0 }, axisName),
              yAxis: [Object.assign({ type: 'value', name: 'KV in use (GB per chip)', nameGap: 45, min: 0,
                max: Math.ceil(1.05 * Math.max(gb(t.kv_capacity_bytes_per_chip), ...t.kv_bytes_per_chip_max.map(gb))) }, axisName),
              Object.assign({ type: 'value', name: 'sequences in flight', nameGap: 45, min: 0 }, axisName)],
              series,
            },
            csv: { header: ['time_s', 'kv_bytes_per_chip_mean', 'kv_bytes_per_chip_max', 'running_per_replica_mean', 'running_per_replica_max'],
              rows: t.time_s.map((x, i) => [x, t.kv_bytes_per_chip_mean[i], t.kv_bytes_per_chip_max[i], t.running_per_replica_mean[i],
                t.running_per_replica_max[i]]) },
          };
        },
      });
    }
  };

  TF.renderScenario = function (parent, doc) {
    const section = el('section', { class: 'doc', 'data-schema': doc.schema });
    parent.append(section);
    const sc = doc.scenario || {};
    section.append(el('h2', { text: `Scenario: ${sc.name || sc.file}` }), sc.description ? el('p', { class: 'lede', text: sc.description }) : null);
    const rows = doc.variants.map((v) => {
      const m = (v.result.metrics && v.result.metrics.whole_run) || {};
      return [v.name, fmt(v.result.result ? v.result.result.output_tok_s : null, 0), fmt(m.mean_ttft_ms, 1), fmt(m.p99_ttft_ms, 1),
        fmt(m.mean_tpot_ms, 2), fmt(m.p99_tpot_ms, 2), m.request_goodput != null ? fmt(m.request_goodput, 2) : '-'];
    });
    section.append(el('section', { class: 'card' }, el('h3', { text: 'Variants side by side' }),
      table(['variant', 'output tok/s', 'mean TTFT ms', 'p99 TTFT ms', 'mean TPOT ms', 'p99 TPOT ms', 'goodput req/s'], rows)));
    for (const v of doc.variants)
      if (v.result && typeof v.result.schema === 'string' && v.result.schema.startsWith('tokenfactory.simulate/'))
        TF.renderSimulate(section, v.result, `Variant ${v.name}: ${v.result.model} on ${v.result.chips} x ${v.result.hardware}`);
  };

  const RENDERERS = {
    'tokenfactory.frontier/1': TF.renderFrontier,
    'tokenfactory.generations/1': TF.renderGenerations,
    'tokenfactory.validate/1': TF.renderValidate,
    'tokenfactory.plan/1': TF.renderPlan,
    'tokenfactory.simulate/1': (p, d) => TF.renderSimulate(p, d),
    'tokenfactory.scenario/1': TF.renderScenario,
  };
  TF.schemas = Object.keys(RENDERERS);

  TF.renderDocuments = function (parent, docs) {
    for (const d of docs) {
      const r = RENDERERS[d.schema];
      try {
        if (!r) throw new Error(`no view for schema ${d.schema}`);
        r(parent, d);
      } catch (e) {
        TF.state.errors.push(String(e && e.stack || e));
        parent.append(el('p', { class: 'error', text: `Could not render a ${d.schema} document: ${e}` }));
        console.error(e);
      }
    }
  };

  // The offline report: documents embedded in the page.
  document.addEventListener('DOMContentLoaded', () => {
    const data = document.getElementById('tf-documents');
    if (!data) return;
    TF.renderDocuments(document.getElementById('tf-report'), JSON.parse(data.textContent));
    TF.state.ready = true;
    document.body.setAttribute('data-ready', 'true');
  });
})();
