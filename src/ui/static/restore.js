// Restore from the page: the plan is shown before anything is pushed (where each item goes
// on the target phone, what is already there, conflicts with a choice per item and for
// all, space needed against free); then progress, cancel, and the result.
// Paths come from archives and the phone: textContent and attribute values only.

const ACTION_WORDS = {
  push: 'copy',
  identical: 'already there (identical): skipped',
  'keep-both': 'conflict',
  overwrite: 'replace the phone\'s file',
  'skip-conflict': 'conflict: leave the phone\'s file',
  'chat-conflict': 'conflict (chat database)',
  superseded: 'a newer copy is restored instead',
};

const CHOICES = [['keep-both', 'Keep both'], ['skip', 'Skip'], ['replace', 'Replace']];

const CHAT_GUIDANCE = 'WhatsApp chats are in this restore. On the new phone, before WhatsApp is '
  + 'ever opened: 1. install WhatsApp and do not open it (if it was already set up, uninstall '
  + 'it, install it again and restore again: uninstalling deletes its folder); 2. restore '
  + '(this); 3. open WhatsApp, verify the same phone number the backup came from, and accept '
  + 'when it offers to restore the backup it found on the phone.';

function choiceSelect(h, label, value) {
  const select = h.el('select', { attrs: { 'aria-label': label } });
  for (const [v, text] of CHOICES) select.append(h.el('option', { text, attrs: { value: v } }));
  select.value = value;
  return select;
}

/** Asks the server for a plan and shows it in `ctx.box` with its Start button. */
export async function planRestore(h, ctx) {
  ctx.error.textContent = '';
  ctx.box.replaceChildren(h.el('p', { text: 'Looking at the phone…', attrs: { role: 'status' } }));
  let plan;
  try {
    plan = await h.post('/api/restore/plan', { serial: ctx.serial, archives: ctx.archives, ids: ctx.ids });
  } catch (err) {
    ctx.box.replaceChildren();
    ctx.error.textContent = err.message;
    return;
  }
  showPlan(h, ctx, plan);
}

function showPlan(h, ctx, plan) {
  const phone = h.phones().find((p) => p.serial === plan.serial);
  const phoneName = phone ? h.phoneLabel(phone) : plan.serial;
  const box = h.el('section', { cls: 'plan-box', attrs: { 'aria-label': 'Restore plan', 'data-plan': String(plan.plan_id) } });
  box.append(h.el('h3', { text: `Restore plan for ${phoneName} (Android SDK ${plan.sdk})` }));
  const facts = [`${plan.to_push} to copy`, `${plan.identical} already there and identical (skipped)`, h.count(plan.conflicts, 'conflict')];
  box.append(h.el('p', { cls: 'line', text: `${h.count(plan.items.length, 'item')}: ${facts.join(', ')}.` }));
  const space = h.el('p', { cls: 'line', attrs: { 'data-role': 'space' }, text: `Space needed: ${h.size(plan.needed)} (${plan.needed} bytes); free on the phone: ${h.size(plan.free)} (${plan.free} bytes).` });
  box.append(space);
  const refusal = h.el('p', { cls: 'line problem', attrs: { role: 'alert' } });
  box.append(refusal);
  const choosable = plan.items.filter((i) => i.own_name);
  const all = choiceSelect(h, 'Choice for all conflicts', 'keep-both');
  const perItem = new Map();
  const targets = new Map(); // index -> the "To" cell of a conflict, which follows its choice
  if (choosable.length) {
    box.append(h.el('p', { cls: 'line' }, [h.el('label', { text: 'For every conflict: ' }, [all])]));
  }
  const rows = plan.items.map((i) => {
    const action = h.el('td', { text: ACTION_WORDS[i.action] || i.action });
    const to = h.el('td', { text: i.target });
    if (i.own_name) {
      const name = i.own_name.split('/').pop();
      const select = choiceSelect(h, `Choice for ${name}`, 'keep-both');
      select.dataset.index = String(i.index);
      select.addEventListener('change', () => { perItem.set(i.index, select.value); update(); });
      action.append(' ', select);
      targets.set(i.index, to);
    }
    return h.el('tr', { attrs: { 'data-index': String(i.index), 'data-action': i.action, 'data-target': i.target } }, [
      h.el('td', { text: i.from }), to, action, h.el('td', { text: h.size(i.size) }),
    ]);
  });
  const head = h.el('tr', {}, ['From (old phone)', 'To (this phone)', 'What happens', 'Size'].map((t) => h.el('th', { text: t, attrs: { scope: 'col' } })));
  box.append(h.el('table', { attrs: { 'aria-label': 'Items of the plan' } }, [h.el('thead', {}, [head]), h.el('tbody', {}, rows)]));
  for (const r of plan.refused) box.append(h.el('p', { cls: 'line problem', text: `Refused: ${r.path}: ${r.message}` }));
  if (plan.chats) box.append(h.el('p', { cls: 'guidance', text: CHAT_GUIDANCE }));
  const start = h.el('button', { text: 'Start restore', attrs: { type: 'button' } });
  box.append(start);
  const choices = () => {
    const out = {};
    for (const [index, value] of perItem) out[index] = value;
    return out;
  };
  // What the choices make of the space needed (the server checks it again).
  function update() {
    let needed = 0;
    for (const i of plan.items) {
      let pushes = ['push', 'keep-both', 'overwrite'].includes(i.action);
      if (i.own_name) {
        const c = perItem.get(i.index) || all.value;
        pushes = c === 'replace' || (c === 'keep-both' && i.action === 'keep-both');
        const where = {
          'keep-both': i.action === 'keep-both' ? `${i.target} (beside the phone's file)` : `${i.target} (not restored: chat databases are never renamed)`,
          skip: `${i.own_name} (the phone's file stays; not restored)`,
          replace: `${i.own_name} (replaces the phone's file)`,
        }[c];
        targets.get(i.index).textContent = where;
      }
      if (pushes) needed += i.size;
    }
    space.textContent = `Space needed: ${h.size(needed)} (${needed} bytes); free on the phone: ${h.size(plan.free)} (${plan.free} bytes).`;
    const fits = needed <= plan.free;
    refusal.textContent = fits ? '' : `Does not fit: ${needed} bytes needed, ${plan.free} bytes free on the phone. Nothing will be copied; free some space on the phone or choose fewer items.`;
    start.disabled = !fits;
  }
  all.addEventListener('change', () => {
    perItem.clear();
    for (const s of box.querySelectorAll('select[data-index]')) s.value = all.value;
    update();
  });
  update();
  start.addEventListener('click', async () => {
    start.disabled = true;
    ctx.error.textContent = '';
    try {
      const answer = await h.post('/api/restore/start', { plan_id: plan.plan_id, all: all.value, choices: choices() });
      ctx.followJob(answer.job, `Restore onto ${phoneName}`, (v, out) => showResult(h, v, out));
    } catch (err) {
      refusal.textContent = err.message;
    }
  });
  ctx.box.replaceChildren(box);
}

function showResult(h, v, out) {
  const d = v.details;
  const lines = [`${h.count(d.restored.length, 'item')} restored (${h.size(d.bytes)})`, `${d.skipped} already there and skipped`];
  if (d.left_alone) lines.push(`${h.count(d.left_alone, 'conflict')} left alone`);
  out.append(h.el('p', { cls: 'line', attrs: { 'data-role': 'restore-result' }, text: `${lines.join('; ')}.` }));
  if (d.failed.length) {
    out.append(h.el('p', { cls: 'line problem', text: `${d.failed.length} items could not be restored:` }));
    out.append(h.el('ul', {}, d.failed.map((f) => h.el('li', { text: `${f.path}: ${f.message}` }))));
  }
  if (d.stopped) {
    out.append(h.el('p', { cls: 'line', text: `Stopped early (${d.stopped}); ${d.not_attempted} items not restored. Nothing half-written is under a real name: restore again to finish.` }));
  }
  if (d.scanned_folders.length) {
    out.append(h.el('p', { cls: 'line', text: `Gallery rescan requested for ${h.count(d.scanned_folders.length, 'folder')}.` }));
  }
  if (d.chats) out.append(h.el('p', { cls: 'guidance', text: CHAT_GUIDANCE }));
}
