// tokenfactory web app: controls over the JSON API of the server that serves this page; the
// frontier is recomputed by the engine whenever a control changes, and drawn with the report's
// views (report.js).
(function () {
  'use strict';
  const DEFAULT_SYSTEMS = ['h100-sxm', 'h200-sxm', 'b200', 'gb200-nvl72', 'mi300x', 'mi355x'];
  const DEFAULT_MODEL = 'meta-llama/Llama-3.1-70B-Instruct';
  const PRECISIONS = ['bf16', 'fp8', 'int8', 'nvfp4', 'mxfp4'];
  let generation = 0;  // completed renders (tests wait on it)
  let pending = null;  // the request in flight: a newer change aborts it
  let lastDoc = null;  // the frontier on screen
  let syncSimSystems = () => {};

  async function api(path, body) {
    const init = body ? { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : {};
    if (body && pending) pending.abort();
    const ctl = new AbortController();
    if (body) pending = ctl;
    init.signal = ctl.signal;
    const r = await fetch(path, init);
    const j = await r.json();
    if (!r.ok) throw new Error(j.error ? j.error.message : r.status + ' ' + r.statusText);
    return j;
  }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v;
      else if (v === true) e.setAttribute(k, '');
      else if (v !== false && v != null) e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }
  function field(label, input) { return el('label', {}, label, input); }
  // POSTs a body to an endpoint of the API and returns its document (an error names the API's message).
  async function post(path, body) {
    const r = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const doc = await r.json();
    if (!r.ok) throw new Error(doc.error ? doc.error.message : String(r.status));
    return doc;
  }
  // Empties a results container, disposing the charts it held.
  function clearResults(box) {
    for (const ch of box.querySelectorAll('.tf-chart')) { const inst = echarts.getInstanceByDom(ch); if (inst) inst.dispose(); }
    box.replaceChildren();
  }

  async function start() {
    const form = document.getElementById('tf-controls');
    const status = document.getElementById('tf-status');
    const results = document.getElementById('tf-results');
    let hardware, models;
    try {
      [hardware, models] = await Promise.all([api('/api/v1/catalog/hardware'), api('/api/v1/catalog/models')]);
    } catch (e) {
      status.textContent = 'could not load the catalogs: ' + e.message;
      status.className = 'status error';
      return;
    }
    const model = el('select', { name: 'model', 'aria-label': 'model' });
    for (const m of models.models) model.append(el('option', { value: m.id, text: m.id, selected: m.id === DEFAULT_MODEL }));
    const systems = el('select', { name: 'hardware', multiple: true, 'aria-label': 'systems' });
    for (const h of hardware.hardware)
      systems.append(el('option', { value: h.id, text: `${h.id} (${h.vendor}, ${h.status})`, selected: DEFAULT_SYSTEMS.includes(h.id) }));
    const isl = el('input', { type: 'number', name: 'isl', min: '1', step: '1', value: '1024', 'aria-label': 'input tokens' });
    const osl = el('input', { type: 'number', name: 'osl', min: '1', step: '1', value: '1024', 'aria-label': 'output tokens' });
    const precisions = el('select', { name: 'precisions', multiple: true, 'aria-label': 'precisions' });
    for (const p of PRECISIONS) precisions.append(el('option', { value: p, text: p, selected: p !== 'mxfp4' }));
    const maxChips = el('input', { type: 'number', name: 'max-chips', min: '0', step: '1', value: '0', 'aria-label': 'max chips' });
    const minUser = el('input', { type: 'number', name: 'min-tok-s-per-user', min: '0', step: 'any', value: '0', 'aria-label': 'minimum tokens/s per user' });
    const target = el('input', { type: 'number', name: 'target', min: '0', step: 'any', value: '50', 'aria-label': 'SLO tokens/s per user' });
    const basis = el('select', { name: 'price-basis', 'aria-label': 'price basis' },
      el('option', { value: 'owned', text: 'owned (capex + power)' }), el('option', { value: 'rental', text: 'rental (list price per chip-hour)' }));
    const per = el('select', { name: 'per', 'aria-label': 'per' },
      el('option', { value: 'chip', text: 'per chip' }), el('option', { value: 'mw', text: 'per MW' }), el('option', { value: 'usd', text: 'per USD' }));
    form.append(field('model', model), field('systems (ctrl-click for several)', systems), field('input tokens per request', isl),
      field('output tokens per request', osl), field('precisions', precisions), field('largest replica (chips, 0 = scale-up domain)', maxChips),
      field('drop points slower than (tok/s per user)', minUser), field('SLO: compare at (tok/s per user)', target),
      field('price basis', basis), field('y axis', per));
    form.addEventListener('submit', (e) => e.preventDefault());

    const selected = (s) => Array.from(s.selectedOptions).map((o) => o.value);
    async function update() {
      const body = {
        model: model.value, hardware: selected(systems), isl: Number(isl.value), osl: Number(osl.value),
        precisions: selected(precisions), 'max-chips': Number(maxChips.value), 'min-tok-s-per-user': Number(minUser.value),
        'price-basis': basis.value,
      };
      if (!body.hardware.length || !body.precisions.length) {
        status.textContent = 'choose at least one system and one precision';
        status.className = 'status error';
        return;
      }
      status.textContent = 'computing...';
      status.className = 'status';
      const t0 = performance.now();
      let doc;
      try {
        doc = await api('/api/v1/frontier', body);
      } catch (e) {
        if (e.name === 'AbortError') return;
        status.textContent = e.message;
        status.className = 'status error';
        return;
      }
      clearResults(results);
      TF.state.charts = [];
      TF.renderFrontier(results, doc, { target: Number(target.value) || 0, per: per.value });
      lastDoc = doc;
      syncSimSystems(doc);
      generation += 1;
      const points = doc.systems.reduce((n, s) => n + s.points.length, 0);
      status.textContent = `${doc.systems.length} systems, ${points} frontier points, computed in ${Math.round(performance.now() - t0)} ms`;
      document.body.setAttribute('data-generation', String(generation));
      document.body.setAttribute('data-ready', 'true');
    }
    let timer = null;
    form.addEventListener('change', () => { clearTimeout(timer); timer = setTimeout(update, 200); });

    // A simulation of the configuration that wins at the SLO on one system of the frontier, run on
    // request (it costs more than a frontier): request-level serving with Poisson arrivals, drawn
    // with the report's views.
    const simCard = document.getElementById('tf-sim-controls');
    const simStatus = document.getElementById('tf-sim-status');
    const simResults = document.getElementById('tf-sim-results');
    const simSystem = el('select', { name: 'sim-hardware', 'aria-label': 'simulated system' });
    const simRate = el('input', { type: 'number', min: '0', step: 'any', value: '2', 'aria-label': 'request rate' });
    const simRequests = el('input', { type: 'number', min: '1', step: '1', value: '500', 'aria-label': 'requests' });
    const simRun = el('button', { type: 'button', text: 'Simulate' });
    simCard.append(field('system (its configuration at the SLO, from the frontier)', simSystem),
      field('Poisson arrivals (requests/s)', simRate), field('requests', simRequests), field('\u00a0', simRun));
    simCard.addEventListener('submit', (e) => e.preventDefault());
    syncSimSystems = (doc) => {
      const keep = simSystem.value;
      simSystem.replaceChildren();
      for (const sys of doc.systems) simSystem.append(el('option', { value: sys.hardware, text: sys.hardware }));
      if (doc.systems.some((sys) => sys.hardware === keep)) simSystem.value = keep;
    };
    if (lastDoc) syncSimSystems(lastDoc);
    let simRuns = 0;
    simRun.addEventListener('click', async () => {
      const fail = (m) => { simStatus.textContent = m; simStatus.className = 'status error'; };
      const sys = lastDoc && lastDoc.systems.find((x) => x.hardware === simSystem.value);
      if (!sys) return fail('compute a frontier first');
      let p = TF.bestAt(sys, Number(target.value) || 0, 'output_tok_s_per_chip');
      let note = `its best configuration at >= ${target.value} tok/s per user`;
      if (!p) {
        p = sys.points.reduce((a, b) => (!a || b.output_tok_s_per_chip > a.output_tok_s_per_chip ? b : a), null);
        note = 'its highest-throughput configuration (none reaches the SLO)';
      }
      if (!p) return fail(`${sys.hardware} has no feasible configuration for this model`);
      const c = p.config;
      const body = { model: model.value, hardware: sys.hardware, isl: Number(isl.value), osl: Number(osl.value),
        rate: Number(simRate.value), requests: Number(simRequests.value), tp: c.tp, pp: c.pp, ep: c.ep, dp: c.dp,
        'attention-dp': c.attention_dp, weights: c.weights, activations: c.activations, kv: c.kv };
      simStatus.textContent = `simulating ${sys.hardware} with ${note}...`;
      simStatus.className = 'status';
      const t0 = performance.now();
      try {
        const doc = await post('/api/v1/simulate', body);
        clearResults(simResults);
        TF.renderSimulate(simResults, doc);
        simRuns += 1;
        simStatus.textContent = `${sys.hardware}, ${note}: ${doc.workload.requests} requests simulated in ` +
          `${Math.round(performance.now() - t0)} ms`;
        document.body.setAttribute('data-simulations', String(simRuns));
      } catch (e) {
        fail(e.message);
      }
    });
    // A fleet plan for a demand: the cheapest fleet per selected system at the SLO above, priced
    // on the chosen basis (POST /api/v1/plan), drawn with the report's plan view.
    const planCard = document.getElementById('tf-plan-controls');
    const planStatus = document.getElementById('tf-plan-status');
    const planResults = document.getElementById('tf-plan-results');
    const demand = el('input', { type: 'number', min: '0', step: 'any', value: '200000', 'aria-label': 'demand output tokens/s' });
    const planRun = el('button', { type: 'button', text: 'Plan' });
    planCard.append(field('demand (output tokens/s)', demand), field('\u00a0', planRun));
    planCard.addEventListener('submit', (e) => e.preventDefault());
    let plans = 0;
    planRun.addEventListener('click', async () => {
      const fail = (m) => { planStatus.textContent = m; planStatus.className = 'status error'; };
      const body = { model: model.value, hardware: selected(systems), isl: Number(isl.value), osl: Number(osl.value),
        precisions: selected(precisions), 'max-chips': Number(maxChips.value), 'min-tok-s-per-user': Number(target.value) || 0,
        'demand-output-tok-s': Number(demand.value), 'price-basis': basis.value };
      if (!body.hardware.length || !body.precisions.length) return fail('choose at least one system and one precision');
      planStatus.textContent = 'planning...';
      planStatus.className = 'status';
      const t0 = performance.now();
      try {
        const doc = await post('/api/v1/plan', body);
        clearResults(planResults);
        TF.renderPlan(planResults, doc);
        plans += 1;
        planStatus.textContent = `${doc.systems.length} systems planned in ${Math.round(performance.now() - t0)} ms` +
          (doc.best ? `; cheapest: ${doc.best.hardware}` : '; none serves the demand at the SLO');
        document.body.setAttribute('data-plans', String(plans));
      } catch (e) {
        fail(e.message);
      }
    });

    // Validation, when the server was started with measured results (serve --measured FILE): the
    // engine predicts every row of that file (POST /api/v1/validate) and the report's view draws
    // predicted against measured. A caller never names a file.
    const valCard = document.getElementById('tf-val-controls');
    const valStatus = document.getElementById('tf-val-status');
    const valResults = document.getElementById('tf-val-results');
    let index = null;
    try { index = await api('/api/v1'); } catch (e) { index = null; }
    const hasValidate = index && (index.endpoints || []).some((e) => e.path === '/api/v1/validate');
    if (!hasValidate) {
      valStatus.textContent = 'this server has no measured results (start it with serve --measured FILE to compare predictions with them)';
    } else {
      const valRun = el('button', { type: 'button', text: 'Validate' });
      valCard.append(field('every row of the server\'s measured-results file', valRun));
      valCard.addEventListener('submit', (e) => e.preventDefault());
      valStatus.textContent = 'predict every measured row with the engine (calibrated efficiencies)';
      valRun.addEventListener('click', async () => {
        valStatus.textContent = 'predicting...';
        valStatus.className = 'status';
        const t0 = performance.now();
        try {
          const doc = await post('/api/v1/validate', {});
          clearResults(valResults);
          TF.renderValidate(valResults, doc);
          valStatus.textContent = `${doc.summary.supported} of ${doc.summary.n} rows predicted in ${Math.round(performance.now() - t0)} ms`;
          document.body.setAttribute('data-validated', 'true');
        } catch (e) {
          valStatus.textContent = e.message;
          valStatus.className = 'status error';
        }
      });
    }
    await update();
  }
  document.addEventListener('DOMContentLoaded', start);
})();
