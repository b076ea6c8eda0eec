// The web client's page. Everything that needs a key or a check (sealing, opening, verifying
// signatures, replaying the record) is done by the engine, the Go client library compiled to
// WebAssembly (app.wasm), exactly as on the command line; this script only shows what the
// engine returns and passes on what the person asks. It never writes markup from data: every
// text goes in through textContent, so nothing a party or the host writes can run here.
'use strict';

(function () {
  const main = document.getElementById('main');
  const who = document.getElementById('who');
  const alarm = document.getElementById('alarm');
  const status = document.getElementById('status');

  // ---- small helpers -------------------------------------------------------------------

  // h builds an element: h('p', {class: 'x', onclick: f}, 'text', child, ...).
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function when(iso) {
    if (!iso || iso.startsWith('0001-')) return '';
    const d = new Date(iso);
    return h('time', { datetime: iso, title: d.toString() },
      d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }));
  }

  // say announces a note in the live region, keeping the last few so that one note does not
  // hide the one just before it.
  function say(text) {
    status.append(h('p', {}, text));
    while (status.childElementCount > 5) status.firstElementChild.remove();
  }

  let uid = 0;
  function id(prefix) { uid += 1; return prefix + '-' + uid; }

  // field is a labelled control.
  function field(label, control, hint) {
    if (!control.id) control.id = id('f');
    const parts = [h('label', { for: control.id }, label), control];
    if (hint) {
      const hid = id('hint');
      control.setAttribute('aria-describedby', hid);
      parts.push(h('p', { class: 'hint', id: hid }, hint));
    }
    return h('div', { class: 'field' }, parts);
  }

  // problem shows an error as the engine explained it: what happened and what to do.
  function problem(err) {
    let e = err;
    if (typeof err === 'string') {
      try { e = JSON.parse(err); } catch (_) { e = { message: err }; }
    } else if (err instanceof Error) {
      e = { message: err.message };
    }
    if (!e || typeof e !== 'object') e = { message: 'Something went wrong: ' + String(err) };
    if (e.alarm) raise(e);
    const box = h('div', { class: e.alarm ? 'error alarm-inline' : 'error', role: 'alert' },
      e.rule ? h('p', { class: 'error-rule', 'data-refused-by': e.refused_by || '' },
        e.refused_by === 'host' ? 'The host refused it, by the talks\u2019 rule: ' : 'Refused by the talks\u2019 rule, before anything was sent: ',
        h('q', {}, e.rule)) : null,
      h('p', { class: 'error-what' }, e.message || 'Something went wrong.'),
      e.todo ? h('p', { class: 'error-todo' }, 'What to do: ', e.todo) : null,
      e.problem ? h('p', { class: 'error-code' }, '(' + e.problem + ')') : null);
    box.dataset.problem = e.problem || '';
    return box;
  }

  // raise shows a loud warning at the top that stays until dismissed: the host may be lying.
  function raise(e) {
    alarm.replaceChildren(
      h('p', { class: 'alarm-title' }, 'Warning: do not trust what this host shows until this is resolved.'),
      h('p', {}, e.message),
      e.todo ? h('p', {}, 'What to do: ', e.todo) : null,
      h('button', { type: 'button', onclick: () => { alarm.hidden = true; } }, 'Dismiss'));
    alarm.hidden = false;
    alarm.dataset.problem = e.problem || '';
  }

  // busy runs an action, disabling its button and showing its error in place.
  async function busy(button, where, action) {
    if (button) button.disabled = true;
    // The page may be drawn anew while the request is on its way: the answer goes to the box
    // of that id on the page then, not to one no longer shown.
    const box = () => (where.id && document.getElementById(where.id)) || where;
    box().replaceChildren();
    try {
      return await action();
    } catch (err) {
      const at = box();
      at.replaceChildren(problem(err));
      const first = at.querySelector('.error');
      if (first) first.setAttribute('tabindex', '-1');
      return undefined;
    } finally {
      if (button) button.disabled = false;
    }
  }

  async function call(method, args) {
    const out = await window.backchannel.call(method, JSON.stringify(args || {}));
    return JSON.parse(out);
  }

  function download(name, data, type) {
    const url = URL.createObjectURL(new Blob([data], { type }));
    const a = h('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---- the identities kept in this browser (IndexedDB) ---------------------------------
  // Each is the identity file as the command line's keystore keeps it: the private keys
  // encrypted with the passphrase (age, scrypt). They are never stored unwrapped.

  function db() {
    return new Promise((resolve, reject) => {
      const r = indexedDB.open('backchannel', 1);
      r.onupgradeneeded = () => r.result.createObjectStore('identities', { keyPath: 'as' });
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(new Error('this browser refuses to keep data for this site: ' + r.error));
    });
  }
  async function tx(mode, fn) {
    const d = await db();
    return new Promise((resolve, reject) => {
      const t = d.transaction('identities', mode);
      const req = fn(t.objectStore('identities'));
      t.oncomplete = () => resolve(req && req.result);
      t.onerror = () => reject(new Error('keeping the identity failed: ' + t.error));
    });
  }
  const identities = () => tx('readonly', (s) => s.getAll());
  const keep = (rec) => tx('readwrite', (s) => s.put(rec));
  const forget = (as) => tx('readwrite', (s) => s.delete(as));

  // ---- state ---------------------------------------------------------------------------

  let me = null;        // who is signed in (the engine's Me)
  let current = null;   // the talks shown
  let page = null;      // its page, as the engine built it
  let summing = {};     // room -> hashes a mediator is summing up there

  // ---- signing in ----------------------------------------------------------------------

  async function showSignIn() {
    me = null; current = null;
    who.replaceChildren();
    document.title = 'Sign in: backchannel';
    const kept = await identities().catch(() => []);
    const signinErr = h('div', { class: 'errors' });
    const importErr = h('div', { class: 'errors' });

    const sections = [h('h1', {}, 'Sign in')];
    if (kept.length) {
      const choose = h('select', { id: 'signin-as', name: 'as' },
        kept.map((r) => h('option', { value: r.as }, `${r.title} (${r.as})`)));
      const pass = h('input', { id: 'signin-pass', type: 'password', autocomplete: 'current-password', required: true });
      const go = h('button', { id: 'signin-go', type: 'submit' }, 'Sign in');
      const form = h('form', { class: 'card', 'aria-labelledby': 'signin-h' },
        h('h2', { id: 'signin-h' }, 'An identity kept in this browser'),
        field('Identity', choose),
        field('Passphrase', pass, 'The passphrase the identity is encrypted with. It never leaves this browser.'),
        h('div', { class: 'actions' }, go,
          h('button', { type: 'button', class: 'secondary', id: 'export-identity', onclick: () => {
            const r = kept.find((x) => x.as === choose.value);
            download(r.as.replace(':', '_') + '.identity.age', r.file, 'application/octet-stream');
          } }, 'Export for the command line'),
          h('button', { type: 'button', class: 'secondary danger', onclick: async () => {
            if (!confirm('Remove ' + choose.value + ' from this browser? Keep an exported copy first.')) return;
            await forget(choose.value); showSignIn();
          } }, 'Remove from this browser')),
        signinErr);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        busy(go, signinErr, async () => {
          const r = kept.find((x) => x.as === choose.value);
          await open(r.file, pass.value);
        });
      });
      sections.push(form);
    }

    const file = h('input', { id: 'import-file', type: 'file', required: true });
    const ipass = h('input', { id: 'import-pass', type: 'password', autocomplete: 'current-password', required: true });
    const igo = h('button', { id: 'import-go', type: 'submit' }, 'Import and sign in');
    const iform = h('form', { class: 'card', 'aria-labelledby': 'import-h' },
      h('h2', { id: 'import-h' }, 'Import an identity'),
      h('p', {}, 'Choose the identity file your organisation gave you: ',
        h('code', {}, 'backchannel cred export ORG PRINCIPAL --out FILE'),
        ' writes it from the command line\u2019s keystore. It stays encrypted with its passphrase, in this browser only.'),
      field('Identity file', file),
      field('Its passphrase', ipass),
      h('div', { class: 'actions' }, igo),
      importErr);
    iform.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(igo, importErr, async () => {
        if (!file.files.length) throw new Error('choose the identity file first');
        const bytes = new Uint8Array(await file.files[0].arrayBuffer());
        const m = await open(bytes, ipass.value, true);
        await keep({ as: m.as, title: m.title, rank: m.rank, org: m.org, file: bytes, added: new Date().toISOString() });
        say('Imported ' + m.as + '.');
      });
    });
    sections.push(iform);
    main.replaceChildren(...sections);
  }

  async function open(bytes, passphrase, importing) {
    say('Unlocking the identity and signing in…');
    me = JSON.parse(await window.backchannel.open(bytes, passphrase));
    if (importing) await keep({ as: me.as, title: me.title, rank: me.rank, org: me.org, file: bytes, added: new Date().toISOString() });
    who.replaceChildren(
      h('span', { class: 'me', id: 'me' }, `${me.title}, ${me.org} (${me.as}, rank ${me.rank})`),
      h('button', { type: 'button', class: 'secondary', id: 'sign-out', onclick: () => { window.backchannel.close(); showSignIn(); } }, 'Sign out'));
    if (me.pinned_now) {
      say('Signed in. This browser pinned the host\u2019s log key: ' + me.log_key_safety_number);
    } else {
      say('Signed in as ' + me.as + '.');
    }
    await showHome();
    return me;
  }

  // ---- the talks of the principal -----------------------------------------------------------

  // leave stops following the talks on screen: the engine holds a stream only for the talks
  // shown, not for every talks opened since sign-in.
  function leave(next) {
    if (current && current !== next) call('unfollow', { talks: current }).catch(() => {});
  }

  async function showHome() {
    leave(null);
    current = null; page = null;
    document.title = 'Talks: backchannel';
    const listErr = h('div', { class: 'errors' });
    const list = h('ul', { class: 'talks-list', id: 'talks-list' });
    const keyNote = h('section', { class: 'card', 'aria-labelledby': 'keys-h' },
      h('h2', { id: 'keys-h' }, 'Safety numbers'),
      h('p', {}, 'Compare these over a channel you trust, out loud or side by side. A change is shown as a warning.'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Your organisation (' + me.org + ')'), h('dd', { class: 'safety', id: 'own-safety' }, me.org_safety_number),
        h('dt', {}, 'This host\u2019s log key (' + me.host + ')'), h('dd', { class: 'safety', id: 'log-safety' }, me.log_key_safety_number)),
      me.pinned_now ? h('p', { class: 'hint' }, 'Pinned now, at this browser\u2019s first sign-in here: compare it with the host\u2019s operator.') : null);
    const refresh = h('button', { type: 'button', class: 'secondary', id: 'refresh-talks', onclick: () => showHome() }, 'Check for new talks');
    main.replaceChildren(
      h('h1', {}, 'Your talks'), listErr, list, h('div', { class: 'actions' }, refresh), newTalksForm(), keyNote);
    main.focus();
    const talks = await busy(null, listErr, () => call('list'));
    if (!talks) return;
    if (!talks.length) list.append(h('li', {}, 'No talks yet: propose some below, or wait to be named in a charter.'));
    for (const t of talks) {
      list.append(h('li', {}, h('a', { href: '#' + encodeURIComponent(t.id), 'data-talks': t.id, onclick: (ev) => { ev.preventDefault(); showTalks(t.id); } }, t.id),
        ' ', h('span', { class: 'muted' }, `${t.members.join(', ')}; ${t.size} events`)));
    }
  }

  function newTalksForm() {
    const err = h('div', { class: 'errors' });
    const tid = h('input', { id: 'new-id', required: true, placeholder: me.org + ':muscat', pattern: '[a-z0-9-]+:[a-z0-9-]+' });
    const parties = h('input', { id: 'new-parties', required: true, placeholder: me.org + ', ir' });
    const mediators = h('input', { id: 'new-mediators', placeholder: 'om' });
    const format = h('select', { id: 'new-format' }, h('option', { value: 'indirect' }, 'indirect: each delegation in its own room'), h('option', { value: 'direct' }, 'direct'));
    const vis = h('select', { id: 'new-visibility' }, h('option', { value: 'secret' }, 'secret'), h('option', { value: 'confidential' }, 'confidential'), h('option', { value: 'public' }, 'public'));
    const level = h('input', { id: 'new-level', type: 'number', min: 1, max: 5, value: 3 });
    const compared = h('textarea', { id: 'new-compared', rows: 3, placeholder: 'ir 12345 12345 12345 12345 12345 12345' });
    const go = h('button', { id: 'new-go', type: 'submit' }, 'Propose the talks');
    const form = h('form', { class: 'card', 'aria-labelledby': 'new-h' },
      h('details', {}, h('summary', { id: 'new-h' }, 'Propose new talks'),
        field('Name (your organisation:name)', tid),
        field('Parties', parties, 'Organisations, separated by commas, yours included.'),
        field('Mediators', mediators, 'Optional: indirect talks may appoint one later by motion.'),
        field('Format', format), field('Visibility', vis), field('Level (the rank formal messages need)', level),
        field('Safety numbers compared out of band', compared, 'One line per other organisation: its id, then the 30 digits it read out to you.'),
        h('div', { class: 'actions' }, go), err));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(go, err, async () => {
        const split = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
        const p = await call('create', { talks: tid.value.trim(), parties: split(parties.value), mediators: split(mediators.value),
          format: format.value, visibility: vis.value, level: Number(level.value), compared: parseCompared(compared.value) });
        render(p);
      });
    });
    return form;
  }

  function parseCompared(text) {
    const out = {};
    for (const line of text.split('\n')) {
      const m = line.trim().match(/^([a-z0-9-]+)[\s:=]+([0-9a-f ]+)$/i);
      if (m) out[m[1]] = m[2].trim();
    }
    return out;
  }

  // ---- one talks -----------------------------------------------------------------------

  async function showTalks(tid) {
    leave(tid);
    current = tid;
    summing = {};
    main.replaceChildren(h('p', { class: 'loading' }, 'Reading and checking the record of ' + tid + '…'));
    const err = h('div', { class: 'errors' });
    const p = await busy(null, err, () => call('talks', { talks: tid }));
    if (!p) { main.replaceChildren(backLink(), err); return; }
    render(p);
  }

  // follow has the engine follow talks' event stream, so that their page stays live. The
  // engine follows each talks once, and again after a stream it had to give up (an invitee
  // may not read the record until it joins): asking at every drawing costs nothing.
  function follow(tid) {
    call('follow', { talks: tid }).catch((err) => say('Not live: ' + String(err)));
  }

  let rereading = false;
  let again = false;
  window.addEventListener('backchannel-ready', () => {
    window.backchannel.onchange = (tid, note) => {
      if (note) say(note);
      if (tid !== current) return;
      reread();
    };
  });
  async function reread() {
    if (rereading) { again = true; return; }
    rereading = true;
    try {
      do {
        again = false;
        const p = await call('talks', { talks: current });
        if (p.talks.id === current) render(p);
      } while (again);
    } catch (err) {
      const box = document.getElementById('live-errors');
      if (box) box.replaceChildren(problem(err));
    } finally {
      rereading = false;
    }
  }

  function backLink() {
    return h('p', {}, h('a', { href: '#', id: 'back', onclick: (ev) => { ev.preventDefault(); showHome(); } }, '\u2190 All talks'));
  }

  // render draws the talks' page, keeping what the person was typing and where the focus was.
  function render(p) {
    // Requests run side by side in the engine: a view read before another request's answer
    // may arrive after it. A copy never shrinks, so a view of fewer events is an older one.
    if (page && page.talks.id === p.talks.id && current === p.talks.id && p.record.size < page.record.size) return;
    const before = page && page.talks.id === p.talks.id ? page : null;
    page = p;
    current = p.talks.id;
    follow(current);
    const kept = {};
    main.querySelectorAll('input[id], textarea[id], select[id]').forEach((el) => {
      if (el.type === 'checkbox') kept[el.id] = el.checked;
      else if (el.type !== 'file' && el.type !== 'password') kept[el.id] = el.value;
    });
    const active = document.activeElement;
    const focused = active && active.id;
    // The caret and selection of the control being typed in, put back where they were.
    const caret = focused && typeof active.selectionStart === 'number' ? [active.selectionStart, active.selectionEnd, active.selectionDirection] : null;
    const openDetails = new Set([...main.querySelectorAll('details[id][open]')].map((d) => d.id));
    // An error stays beside its control until the person acts there again, whatever arrives
    // meanwhile; the live box is the reading's own and is cleared by the next reading.
    const errors = new Map([...main.querySelectorAll('.errors[id]')]
      .filter((e) => e.id !== 'live-errors' && e.childNodes.length).map((e) => [e.id, [...e.childNodes]]));
    const t = p.talks;
    document.title = t.id + ': backchannel';
    main.replaceChildren(...[
      backLink(),
      h('h1', { id: 'talks-title' }, t.id, ' ', h('span', { class: 'badge status-' + t.status, id: 'talks-status' }, t.status)),
      h('div', { id: 'live-errors', class: 'errors' }),
      p.must_accept ? acceptSection(p) : null,
      overview(p),
      delegationSection(p),
      roomsSection(p),
      motionsSection(p),
      roundsSection(p),
      statementsSection(p),
      recordSection(p),
      timelineSection(p)].filter(Boolean));
    for (const [k, v] of Object.entries(kept)) {
      const el = document.getElementById(k);
      if (el && el.type === 'checkbox') el.checked = v === true;
      else if (el && el.type !== 'file') el.value = v;
    }
    openDetails.forEach((d) => { const el = document.getElementById(d); if (el) el.open = true; });
    errors.forEach((nodes, id) => { const el = document.getElementById(id); if (el) el.replaceChildren(...nodes); });
    if (focused) {
      const el = document.getElementById(focused);
      if (el) {
        el.focus();
        if (caret && typeof el.setSelectionRange === 'function') {
          try { el.setSelectionRange(...caret); } catch (_) { /* a control without a caret */ }
        }
      }
    }
    if (before) announceChanges(before, p);
  }

  // announceChanges tells, in the live region, what arrived since the page was last drawn: each
  // message another wrote or relayed, each motion proposed and each motion decided. A screen
  // reader then says it as it comes, and anyone sees it in the status line without searching.
  function announceChanges(before, p) {
    const seen = new Set(before.rooms.flatMap((r) => r.messages.map((m) => r.id + ' ' + m.hash)));
    for (const r of p.rooms) {
      for (const m of r.messages) {
        if (seen.has(r.id + ' ' + m.hash) || m.author === p.as || m.relayer === p.as) continue;
        if (!m.verified) { say(`A message in ${r.name} is not shown as genuine: ${m.flag}`); continue; }
        const by = m.mode === 'verbatim' ? `from ${m.title} (${m.author}), relayed word for word by ${m.relayer}`
          : m.mode === 'summary' ? `a summary by ${m.title} (${m.author})` : `from ${m.title} (${m.author})`;
        say(`New ${m.kind} in ${r.name}, ${by}.`);
      }
    }
    const was = new Map(before.motions.map((m) => [m.id, m.outcome]));
    for (const m of p.motions) {
      if (!was.has(m.id)) {
        if (m.by !== p.as) say(`New motion ${m.id} by ${m.by}: ${m.summary}.`);
      } else if (was.get(m.id) !== m.outcome && m.outcome !== 'pending') {
        say(`Motion ${m.id} ${m.outcome}: ${m.summary}.`);
      }
    }
  }

  function overview(p) {
    const t = p.talks;
    const roots = h('ul', { class: 'roots' }, t.roots.map((r) =>
      h('li', { 'data-root': r.org }, h('strong', {}, r.org), ' ', h('span', { class: 'safety' }, r.safety_number))));
    return h('section', { class: 'card', 'aria-labelledby': 'ov-h' },
      h('h2', { id: 'ov-h' }, 'Overview'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'You'), h('dd', {}, `${p.as}, ${p.role || 'not a member'}`),
        h('dt', {}, 'Format'), h('dd', { id: 'talks-format' }, t.format),
        h('dt', {}, 'Level'), h('dd', {}, 'rank ' + t.level),
        h('dt', {}, 'Venue'), h('dd', {}, t.venue || 'not agreed'),
        h('dt', {}, 'Agenda'), h('dd', { id: 'talks-agenda' }, t.agenda.length ? t.agenda.join(', ') : 'nothing agreed yet'),
        h('dt', {}, 'Parties'), h('dd', {}, t.parties.join(', ')),
        h('dt', {}, 'Mediators'), h('dd', { id: 'talks-mediators' }, t.mediators.length ? t.mediators.join(', ') : 'none'),
        h('dt', {}, 'Accepted the charter'), h('dd', {}, t.accepted.join(', ') || 'no one yet'),
        h('dt', {}, 'Delegations'), h('dd', {}, h('ul', {}, t.members.map((m) => h('li', {}, m)))),
        h('dt', {}, 'Pinned roots'), h('dd', {}, roots)));
  }

  // delegationSection is the principal's own delegation: who sits for its organisation, and,
  // for its head (or a member of the head's rank), adding a principal of the organisation or
  // taking one out. The engine picks the credential its pinned root issued, never the host's.
  function delegationSection(p) {
    if (!p.delegation.length) return null;
    const err = h('div', { class: 'errors', id: 'delegation-errors' });
    const items = p.delegation.map((m) => h('li', { 'data-member': m.handle },
      `${m.title} (${m.handle}), rank ${m.rank}${m.head ? ', head of delegation' : ''} `,
      p.may_manage && !m.head && m.handle !== p.as ? h('button', { type: 'button', class: 'secondary', 'data-remove-member': m.handle,
        onclick: (ev) => busy(ev.target, err, async () => {
          render(await call('remove-member', { talks: p.talks.id, member: m.handle }));
          say(m.handle + ' no longer sits in your delegation.');
        }) }, 'Take ' + m.handle + ' out') : null));
    let form = null;
    if (p.may_manage) {
      const who = h('input', { id: 'member-name', autocomplete: 'off', placeholder: p.org + ':presidential-adviser' });
      const go = h('button', { type: 'submit', id: 'member-add' }, 'Add to the delegation');
      form = h('form', {}, field('A principal of ' + p.org + ' (its name, or ' + p.org + ':name)', who,
        'Its credential must be published, issued by your organisation\u2019s root pinned in these talks.'), h('div', { class: 'actions' }, go));
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const sent = { 'member-name': who.value };
        busy(go, err, async () => {
          render(await call('add-member', { talks: p.talks.id, member: who.value.trim() }));
          clearIfUnchanged(sent);
          say('Added to your delegation.');
        });
      });
    }
    return h('section', { class: 'card', 'aria-labelledby': 'de-h' },
      h('h2', { id: 'de-h' }, 'Your delegation'),
      h('ul', { id: 'delegation' }, items), form, err);
  }

  function acceptSection(p) {
    const err = h('div', { class: 'errors', id: 'accept-errors' });
    const inputs = {};
    const fields = p.talks.roots.filter((r) => r.org !== me.org).map((r) => {
      inputs[r.org] = h('input', { id: 'compare-' + r.org, 'data-compare': r.org, inputmode: 'numeric', autocomplete: 'off', required: true });
      return field(`Safety number of ${r.org}, as ${r.org} read it out to you`, inputs[r.org],
        'Type what you compared out of band, not what this page shows: the page shows what the charter pins.');
    });
    const go = h('button', { id: 'accept-go', type: 'submit' }, 'Accept the charter');
    const form = h('form', { class: 'card attention', id: 'accept-form', 'aria-labelledby': 'acc-h' },
      h('h2', { id: 'acc-h' }, 'Your organisation has not accepted this charter'),
      h('p', {}, 'Accepting pins these roots: every signature in the talks is checked against them. Compare each with its organisation first.'),
      fields, h('div', { class: 'actions' }, go), err);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const compared = {};
      for (const [org, el] of Object.entries(inputs)) compared[org] = el.value.trim();
      busy(go, err, async () => { render(await call('accept', { talks: p.talks.id, compared })); say('Charter accepted.'); });
    });
    return form;
  }

  // ---- rooms and messages --------------------------------------------------------------

  function roomsSection(p) {
    const mediator = p.role === 'mediator';
    return h('section', { 'aria-labelledby': 'rooms-h', class: 'rooms-section' },
      h('h2', { id: 'rooms-h' }, mediator ? 'The rooms you sit in, side by side' : 'Your rooms'),
      p.rooms.length ? null : h('p', {}, 'You sit in no room yet: the talks are not active, or your delegation has not added you.'),
      h('div', { class: 'rooms' }, p.rooms.map((r) => roomColumn(p, r))));
  }

  function provenance(m) {
    if (!m.verified) return h('p', { class: 'prov flagged' }, '\u26a0 Not shown as genuine: ', m.flag);
    const author = `${m.title} (${m.author})`;
    if (m.mode === 'verbatim') {
      return h('p', { class: 'prov verbatim' }, h('strong', {}, 'Relayed word for word'), ` by ${m.relayer} from ${author}. `,
        h('span', { class: 'ok' }, '\u2714 the author\u2019s own signature verified'));
    }
    if (m.mode === 'summary') {
      return h('p', { class: 'prov summary' }, h('strong', {}, `Summary by ${author}`), ', in the mediator\u2019s own words, of ',
        (m.summary_of || []).length + ' message' + ((m.summary_of || []).length === 1 ? '' : 's') + '. ',
        h('span', { class: 'ok' }, '\u2714 signature verified'));
    }
    return h('p', { class: 'prov direct' }, `Written by ${author}. `, h('span', { class: 'ok' }, '\u2714 signature verified'));
  }

  function messageItem(p, r, m) {
    const actions = [];
    if (p.role === 'mediator' && m.verified && !r.closed) {
      for (const other of p.rooms) {
        if (other.id === r.id || other.closed) continue;
        const err = h('span', { class: 'errors', id: `relay-errors-${m.hash}-${other.id}` });
        const b = h('button', { type: 'button', class: 'secondary', 'data-relay-to': other.id,
          onclick: () => busy(b, err, async () => { render(await call('relay', { talks: p.talks.id, hash: m.hash, room: other.id })); say('Relayed to ' + other.name + '.'); }) },
        'Relay word for word to ' + other.name);
        actions.push(b, err);
        actions.push(h('button', { type: 'button', class: 'secondary', 'data-summarize-to': other.id,
          onclick: () => { summing[other.id] = [m.hash]; render(page); const ta = document.getElementById(composeID(other.id, 'body')); if (ta) ta.focus(); } },
        'Sum up for ' + other.name));
      }
    }
    if (m.verified && !r.closed && m.author !== p.as && m.relayer !== p.as && !(m.receipts || []).some((rc) => rc.by === p.as && rc.kind === 'acknowledged')) {
      const err = h('span', { class: 'errors', id: `ack-errors-${m.hash}` });
      const b = h('button', { type: 'button', class: 'secondary', 'data-acknowledge': m.hash,
        onclick: () => busy(b, err, async () => { render(await call('receipt', { talks: p.talks.id, hash: m.hash, kind: 'acknowledged' })); say('Receipt acknowledged on the record.'); }) },
      'Acknowledge receipt');
      actions.push(b, err);
    }
    const receipts = (m.receipts || []).map((rc) => h('li', {}, `${rc.kind} by ${rc.by}, `, when(rc.at)));
    const relays = (m.relays || []).map((rl) => h('li', {}, `${rl.mode === 'summary' ? 'summed up' : 'relayed word for word'} by ${rl.by} to ${rl.to}, `, when(rl.at)));
    return h('li', { class: 'message' + (m.verified ? '' : ' bad'), 'data-hash': m.hash, 'data-index': m.index },
      h('div', { class: 'meta' }, h('span', { class: 'kind' }, m.kind), ' ',
        (m.topics || []).map((tp) => h('span', { class: 'topic' }, tp)), ' #' + m.index + ' ', when(m.time)),
      provenance(m),
      m.body ? h('p', { class: 'body', dir: 'auto' }, m.body) : null,
      receipts.length ? h('ul', { class: 'receipts', 'aria-label': 'Receipts' }, receipts) : null,
      relays.length ? h('ul', { class: 'relays', 'aria-label': 'Relays' }, relays) : null,
      actions.length ? h('div', { class: 'actions' }, actions) : null);
  }

  // clearIfUnchanged empties the controls (by id) that still hold what was sent: the page may
  // have been drawn anew while the request was on its way, and the person may have typed on.
  function clearIfUnchanged(sent) {
    for (const [fid, v] of Object.entries(sent)) {
      const el = document.getElementById(fid);
      if (el && el.value === v) el.value = '';
    }
  }

  function composeID(room, what) { return 'compose-' + room.replace(/[^a-z0-9-]/gi, '_') + '-' + what; }

  function roomColumn(p, r) {
    const list = h('ol', { class: 'messages', 'aria-label': 'Messages in ' + r.name }, r.messages.map((m) => messageItem(p, r, m)));
    if (!r.messages.length) list.append(h('li', { class: 'empty' }, 'No messages yet.'));
    if (r.closed) {
      return h('section', { class: 'room card closed', 'data-room': r.id, 'data-closed': 'true', 'aria-label': r.name + ' (closed)' },
        h('h3', {}, r.name, ' ', h('span', { class: 'badge' }, 'closed')),
        h('p', { class: 'muted' }, 'This room is closed: no one writes here any more. What you read here stays on this page and on your record.'),
        list);
    }
    return h('section', { class: 'room card', 'data-room': r.id, 'aria-label': r.name },
      h('h3', {}, r.name), h('p', { class: 'muted' }, 'Read by ' + r.members.join(', ')),
      list, compose(p, r));
  }

  function compose(p, r) {
    const err = h('div', { class: 'errors', id: composeID(r.id, 'errors') });
    const of = summing[r.id];
    const kind = h('select', { id: composeID(r.id, of ? 'summary-kind' : 'kind'), name: 'kind', disabled: !!of },
      (of ? ['summary'] : p.kinds).map((k) => h('option', { value: k }, k)));
    const topics = h('select', { id: composeID(r.id, 'topic'), name: 'topic' },
      h('option', { value: '' }, 'no topic'),
      p.talks.agenda.map((tp) => h('option', { value: tp }, tp)),
      h('option', { value: '*other' }, 'another topic…'));
    const other = h('input', { id: composeID(r.id, 'other'), name: 'other-topic', placeholder: 'a topic' });
    const body = h('textarea', { id: composeID(r.id, 'body'), name: 'body', rows: 3, dir: 'auto', required: true });
    const go = h('button', { type: 'submit', class: 'send' }, of ? 'Send the summary' : 'Send');
    const form = h('form', { class: 'compose', 'aria-label': 'Write in ' + r.name },
      of ? h('p', { class: 'summing' }, 'Summing up ' + of.length + ' message(s) in your own words. ',
        h('button', { type: 'button', class: 'link', onclick: () => { delete summing[r.id]; render(page); } }, 'Cancel')) : null,
      h('div', { class: 'row' }, field('Kind', kind), field('Topic', topics), field('Other topic', other)),
      field('Message', body), h('div', { class: 'actions' }, go), err);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const tp = topics.value === '*other' ? other.value.trim() : topics.value;
      const args = { talks: p.talks.id, room: r.id, kind: kind.value, topics: tp ? [tp] : [], body: body.value };
      const sent = { [composeID(r.id, 'body')]: body.value, [composeID(r.id, 'other')]: other.value };
      busy(go, err, async () => {
        let out;
        if (of) {
          args.of = of; args.kind = 'summary';
          out = await call('summarize', args);
          delete summing[r.id];
        } else out = await call('send', args);
        render(out);
        // The page may have been drawn anew while the message was on its way: clear the
        // box that is on the page now.
        clearIfUnchanged(sent);
        say('Sent to ' + r.name + '.');
      });
    });
    return form;
  }

  // ---- motions -------------------------------------------------------------------------

  function motionsSection(p) {
    const items = p.motions.map((m) => {
      const err = h('span', { class: 'errors', id: `vote-errors-${m.id}` });
      const votes = [];
      const compare = {};
      if (m.may_vote && (m.kind === 'invite-mediator' || m.kind === 'add-party')) {
        // A yes pins a root: the invitee's for a voter, those of the talks for the invitee.
        const orgs = m.change.org === me.org ? p.talks.roots.map((r) => r.org).filter((o) => o !== me.org) : [m.change.org];
        for (const org of orgs) {
          compare[org] = h('input', { id: `vote-compare-${m.id}-${org}`, 'data-vote-compare': org, inputmode: 'numeric', autocomplete: 'off' });
          votes.push(field(`Safety number of ${org}, as ${org} read it out to you`, compare[org], 'Needed to accept: accepting pins this root.'));
        }
      }
      if (m.may_vote) {
        for (const [accept, label] of [[true, 'Accept'], [false, 'Refuse']]) {
          const b = h('button', { type: 'button', id: `vote-${m.id}-${accept ? 'accept' : 'refuse'}`, class: accept ? '' : 'secondary danger', 'data-vote': accept ? 'accept' : 'refuse',
            onclick: () => busy(b, err, async () => {
              const compared = {};
              for (const [org, el] of Object.entries(compare)) if (el.value.trim()) compared[org] = el.value.trim();
              render(await call('vote', { talks: p.talks.id, motion: m.id, accept, compared }));
            }) }, label);
          votes.push(b);
        }
      }
      const consented = m.ballots.filter((b) => b.accept).map((b) => b.org + (b.standing ? ' (standing)' : ''));
      const refusedBy = m.ballots.filter((b) => !b.accept).map((b) => b.org + (b.standing ? ' (by its standing red lines)' : ''));
      return h('li', { class: 'motion outcome-' + m.outcome, 'data-motion': m.id },
        h('p', {}, h('strong', {}, m.summary), ' ', h('span', { class: 'badge outcome', 'data-outcome': m.outcome }, m.outcome)),
        h('p', { class: 'muted' }, `motion ${m.id}, proposed by ${m.by} `, when(m.proposed), m.outcome === 'pending' ? [', expires ', when(m.deadline)] : null),
        h('p', {}, 'Consented: ', consented.join(', ') || 'no one yet',
          refusedBy.length ? ['; refused: ', h('span', { class: 'refused' }, refusedBy.join(', '))] : null,
          m.waiting.length ? '; waiting for: ' + m.waiting.join(', ') : null),
        m.reason ? h('p', { class: 'muted' }, m.reason) : null,
        m.no_vote ? h('p', { class: 'muted no-vote' }, m.no_vote) : null,
        votes.length ? h('div', { class: 'actions' }, votes, err) : null);
    });
    return h('section', { class: 'card', 'aria-labelledby': 'mo-h' },
      h('h2', { id: 'mo-h' }, 'Motions'),
      h('p', { class: 'hint' }, 'Nothing about the talks\u2019 shape changes without every party\u2019s consent; one refusal defeats a motion.'),
      items.length ? h('ul', { class: 'motions', id: 'motions' }, items) : h('p', {}, 'No motions yet.'),
      p.proposable && p.proposable.length ? proposeForm(p) : null);
  }

  function proposeForm(p) {
    const err = h('div', { class: 'errors', id: 'propose-errors' });
    const mid = h('input', { id: 'motion-id', required: true, placeholder: 'm-venue-muscat' });
    const kind = h('select', { id: 'motion-kind' }, p.proposable.map((k) => h('option', { value: k }, k)));
    const value = h('input', { id: 'motion-value', dir: 'auto' });
    const safety = h('input', { id: 'motion-safety', inputmode: 'numeric', autocomplete: 'off' });
    const minutes = h('input', { id: 'motion-minutes', type: 'number', min: 1, value: 1440 });
    const go = h('button', { id: 'motion-go', type: 'submit' }, 'Propose');
    const form = h('form', { class: 'propose' },
      h('details', { id: 'propose-details' }, h('summary', {}, 'Propose a motion'),
        field('Motion id', mid), field('Change', kind),
        field('Its value', value, 'An organisation, venue, format, level, topic, or a date and time (for a round or a direct session).'),
        field('Safety number of an invited organisation', safety, 'For invite-mediator and add-party: the digits it read out to you.'),
        field('Expires in (minutes)', minutes),
        h('div', { class: 'actions' }, go), err));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      let v = value.value.trim();
      if ((kind.value === 'schedule-round' || kind.value === 'open-session') && v && !/Z|[+-]\d\d:\d\d$/.test(v)) {
        const d = new Date(v);
        if (!isNaN(d)) v = d.toISOString();
      }
      const sent = { 'motion-id': mid.value, 'motion-value': value.value, 'motion-safety': safety.value };
      busy(go, err, async () => {
        render(await call('propose', { talks: p.talks.id, motion: mid.value.trim(), change: { kind: kind.value, value: v, safety: safety.value.trim() }, minutes: Number(minutes.value) }));
        clearIfUnchanged(sent);
      });
    });
    return form;
  }

  // ---- rounds, statements, the record, the timeline ------------------------------------

  function roundsSection(p) {
    // The rules let a party, as well as a mediator, open and close a round and a direct session.
    const sits = p.role === 'mediator' || p.role === 'party';
    const err = h('div', { class: 'errors', id: 'rounds-errors' });
    const ds = p.direct_session;
    const direct = ds ? h('p', { id: 'direct-session' }, 'A direct session is open, since ', when(ds.opened), ', until ', when(ds.until),
      ` (motion ${ds.motion}): the delegations meet in the plenary room. `,
      sits ? h('button', { type: 'button', id: 'close-session', class: 'secondary', onclick: (ev) => busy(ev.target, err, async () => {
        render(await call('close-session', { talks: p.talks.id }));
        say('The direct session is closed.');
      }) }, 'Close the direct session') : null) : null;
    const items = p.talks.rounds.map((r) => {
      const b = [];
      if (sits && r.state === 'scheduled') b.push(h('button', { type: 'button', 'data-open-round': r.number, onclick: (ev) => busy(ev.target, err, async () => render(await call('open-round', { talks: p.talks.id, round: r.number }))) }, 'Open round ' + r.number));
      if (sits && r.state === 'in-session') b.push(h('button', { type: 'button', 'data-close-round': r.number, onclick: (ev) => busy(ev.target, err, async () => render(await call('close-round', { talks: p.talks.id, round: r.number }))) }, 'Close round ' + r.number));
      return h('li', { 'data-round': r.number }, `Round ${r.number}${r.venue ? ' in ' + r.venue : ''}, `, when(r.start), `: ${r.state} `, b);
    });
    return h('section', { class: 'card', 'aria-labelledby': 'ro-h' },
      h('h2', { id: 'ro-h' }, 'Rounds'),
      items.length ? h('ul', { id: 'rounds' }, items) : h('p', {}, 'No round scheduled yet: a schedule-round motion sets one.'),
      direct, err);
  }

  function statementsSection(p) {
    const party = p.role === 'party';
    const err = h('div', { class: 'errors', id: 'statement-errors' });
    const round = h('input', { id: 'statement-round', type: 'number', min: 1, value: p.talks.rounds.length || 1 });
    const text = h('textarea', { id: 'statement-text', rows: 2, dir: 'auto' });
    const joint = h('input', { id: 'statement-joint', type: 'checkbox' });
    const go = h('button', { id: 'statement-go', type: 'submit' }, 'Publish the statement');
    const form = h('form', {}, h('details', { id: 'statement-details' }, h('summary', {}, 'Publish a statement on a closed round'),
      field('Round', round), field('Statement', text),
      h('div', { class: 'field check' }, joint, h('label', { for: joint.id }, 'Joint: it stands once every party has signed the same words')),
      h('div', { class: 'actions' }, go), err));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const sent = { 'statement-text': text.value };
      busy(go, err, async () => {
        render(await call('statement', { talks: p.talks.id, round: Number(round.value), text: text.value, joint: joint.checked }));
        clearIfUnchanged(sent);
        say('Statement published.');
      });
    });
    const items = p.statements.map((st, i) => {
      const signed = st.signers.some((who) => who.split(':')[0] === p.org);
      let sign = null;
      if (party && st.joint && !st.complete && !signed && st.text) {
        // A party signs the very words the others signed: the engine signs their digest.
        const serr = h('span', { class: 'errors', id: `cosign-errors-${st.round}-${i}` });
        const b = h('button', { type: 'button', 'data-cosign': String(i), onclick: () => busy(b, serr, async () => {
          render(await call('statement', { talks: p.talks.id, round: st.round, text: st.text, joint: true }));
          say('You signed the joint statement.');
        }) }, 'Sign this joint statement too');
        sign = h('div', { class: 'actions' }, b, serr);
      }
      return h('li', { 'data-statement': String(i) }, h('p', { dir: 'auto' }, st.text || '(text not on the record)'),
        h('p', { class: 'muted' }, `round ${st.round}, `, st.joint ? (st.complete ? 'joint, signed by every party' : 'joint, waiting for every party to sign') : 'unilateral',
          `; signed by ${st.signers.join(', ')}`), sign);
    });
    return h('section', { class: 'card', 'aria-labelledby': 'st-h' },
      h('h2', { id: 'st-h' }, 'Statements'),
      items.length ? h('ul', { id: 'statements' }, items) : h('p', {}, 'No statements yet.'),
      party ? form : null);
  }

  function recordSection(p) {
    const r = p.record;
    const err = h('div', { class: 'errors', id: 'record-errors' });
    const ex = h('button', { type: 'button', id: 'export', onclick: () => busy(ex, err, async () => {
      const x = await call('export', { talks: p.talks.id });
      download(x.name, x.data, 'application/json');
      say('Export downloaded: ' + x.name);
    }) }, 'Download the export');
    const cos = Object.entries(r.cosigners).map(([k, n]) => h('li', {}, `${k}: cosigned ${n} events`));
    return h('section', { class: 'card', 'aria-labelledby': 're-h' },
      h('h2', { id: 're-h' }, 'The record'),
      h('p', { class: r.verified ? 'ok' : 'flagged', id: 'record-verified' }, r.verified
        ? '\u2714 Verified by this browser: every event against the host\u2019s signed checkpoint, every signature against the pinned roots.'
        : 'Not verified.'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Events read'), h('dd', { id: 'record-size' }, String(r.size)),
        h('dt', {}, 'Checkpoint'), h('dd', {}, `${r.checkpoint} events, root ${r.root_hash.slice(0, 16)}…`),
        h('dt', {}, 'Confirmed by the parties'), h('dd', {}, `${r.confirmed} events (quorum ${r.quorum || 'every party'})`),
        h('dt', {}, 'Cosigned by'), h('dd', {}, cos.length ? h('ul', {}, cos) : 'no one yet'),
        h('dt', {}, 'Log key safety number'), h('dd', { class: 'safety' }, r.log_key_safety_number),
        r.left_at ? [h('dt', {}, 'Left'), h('dd', {}, 'your organisation left at event ' + r.left_at)] : null),
      h('div', { class: 'actions' }, ex), err);
  }

  function timelineSection(p) {
    return h('section', { class: 'card', 'aria-labelledby': 'tl-h' },
      h('details', { id: 'timeline-details' }, h('summary', { id: 'tl-h' }, 'Timeline'),
        h('ol', { class: 'timeline' }, p.timeline.map((e) => h('li', {}, when(e.at), ' ', e.what)))));
  }

  // ---- start ---------------------------------------------------------------------------

  async function start() {
    if (!window.WebAssembly || !window.Go) {
      main.replaceChildren(h('p', { class: 'error' }, 'This browser cannot run the client: it needs WebAssembly.'));
      return;
    }
    const ready = new Promise((resolve) => window.addEventListener('backchannel-ready', resolve, { once: true }));
    const go = new window.Go();
    try {
      const r = await WebAssembly.instantiateStreaming(fetch('/app.wasm'), go.importObject);
      go.run(r.instance);
      await ready;
    } catch (err) {
      main.replaceChildren(h('p', { class: 'error', role: 'alert' }, 'The client did not load: ' + err.message + '. Reload the page.'));
      return;
    }
    await showSignIn();
    // When the first screen was ready, and what the visit downloaded, for the tests to report.
    document.body.dataset.readyMs = String(Math.round(performance.now()));
    document.body.dataset.ready = 'true';
  }
  start();
})();
