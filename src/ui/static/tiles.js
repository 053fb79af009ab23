// Tiles, their grouping by month and day, and their selection, shared by the phone grid and
// an archive's grid.
// A grid's state holds `shown` (ids in screen order), `selected` (a Set), `anchor` (the
// last id chosen without Shift) and `focusId`. Names from a phone or an archive reach the
// page only as textContent and attribute values (through `el`).

// One tile: a button that selects (labelled with the name, the date and `note`), a View
// button, and a badge when `badge` is given.
export function makeTile(el, item, { when, note, badge, choose, key, enlarge }) {
  const pick = el('button', {
    cls: 'pick',
    attrs: {
      type: 'button',
      'aria-pressed': 'false',
      'aria-label': `${item.name}, ${when}${note ? `, ${note}` : ''}`,
      'data-id': item.id,
      tabindex: '-1',
    },
  });
  if (!item.thumbnail) pick.append(el('span', { cls: 'kind', text: item.kind }));
  pick.append(el('span', { cls: 'name', text: item.name, attrs: { 'aria-hidden': 'true' } }));
  pick.addEventListener('click', (e) => choose(item.id, e));
  pick.addEventListener('keydown', (e) => key(item.id, e));
  const view = el('button', { cls: 'enlarge', text: 'View', attrs: { type: 'button', 'aria-label': `Enlarge ${item.name}` } });
  view.addEventListener('click', () => enlarge(item.id));
  const box = el('div', { cls: 'tile', attrs: { 'data-id': item.id, 'data-thumb': String(item.thumbnail) } }, [pick, view]);
  if (badge) box.append(el('span', { cls: 'badge', text: badge, attrs: { 'aria-hidden': 'true' } }));
  return box;
}

function range(grid, fromId, toId) {
  const a = grid.shown.indexOf(fromId);
  const b = grid.shown.indexOf(toId);
  if (a < 0 || b < 0) return [toId];
  return grid.shown.slice(Math.min(a, b), Math.max(a, b) + 1);
}

// A click: alone it selects only this tile (or clears it when it was the only one), with
// Ctrl/Cmd it toggles, with Shift it selects the range from the anchor.
export function choose(grid, id, event) {
  if (event.shiftKey && grid.anchor) {
    if (!(event.ctrlKey || event.metaKey)) grid.selected.clear();
    for (const r of range(grid, grid.anchor, id)) grid.selected.add(r);
  } else if (event.ctrlKey || event.metaKey) {
    if (grid.selected.has(id)) grid.selected.delete(id); else grid.selected.add(id);
    grid.anchor = id;
  } else {
    const only = grid.selected.size === 1 && grid.selected.has(id);
    grid.selected.clear();
    if (!only) grid.selected.add(id);
    grid.anchor = id;
  }
  grid.focusId = id;
}

// Moves the keyboard focus to tile `id` inside the grid element `root`.
export function focusTile(grid, root, id) {
  const button = root.querySelector(`.pick[data-id="${CSS.escape(id)}"]`);
  if (!button) return;
  for (const b of root.querySelectorAll('.pick[tabindex="0"]')) b.tabIndex = -1;
  button.tabIndex = 0;
  button.focus();
  button.scrollIntoView({ block: 'nearest' });
  grid.focusId = id;
}

function columns(root) {
  const first = root.querySelector('.tile');
  const row = first && first.parentElement;
  if (!row) return 1;
  return Math.max(1, Math.floor((row.clientWidth + 6) / (first.offsetWidth + 6)));
}

// A key on a tile: arrows, Home and End move (with Shift they select the range), Space
// toggles, Alt+Enter opens the large view. `changed` is called when the selection changed.
export function keyOnTile(grid, root, id, e, { changed, open }) {
  const at = grid.shown.indexOf(id);
  const across = columns(root);
  const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -across, ArrowDown: across, Home: -at, End: grid.shown.length - 1 - at }[e.key];
  if (step !== undefined) {
    e.preventDefault();
    const next = grid.shown[Math.min(grid.shown.length - 1, Math.max(0, at + step))];
    if (e.shiftKey) {
      if (!grid.anchor) grid.anchor = id;
      grid.selected.clear();
      for (const r of range(grid, grid.anchor, next)) grid.selected.add(r);
      changed();
    }
    focusTile(grid, root, next);
  } else if (e.key === ' ') {
    e.preventDefault();
    if (grid.selected.has(id)) grid.selected.delete(id); else grid.selected.add(id);
    grid.anchor = id;
    changed();
  } else if (e.key === 'Enter' && e.altKey) {
    e.preventDefault();
    open(id);
  }
}

// Shows the selection on the tiles of `root` and keeps one tile in the tab order.
export function showSelection(grid, root) {
  for (const b of root.querySelectorAll('.pick')) {
    b.setAttribute('aria-pressed', String(grid.selected.has(b.dataset.id)));
  }
  const focusable = root.querySelector(`.pick[data-id="${CSS.escape(grid.focusId || grid.shown[0] || '')}"]`)
    || root.querySelector('.pick');
  if (focusable && !root.querySelector('.pick[tabindex="0"]')) focusable.tabIndex = 0;
}

const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
const monthFormat = new Intl.DateTimeFormat(undefined, { month: 'long', year: 'numeric' });

function localDate(day) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(y, m - 1, d);
}

const monthOf = (item) => (item.day ? item.day.slice(0, 7) : 'undated');

// A heading with a button that selects its whole group.
function heading(el, level, title, label, select) {
  const pick = el('button', { text: label, attrs: { type: 'button', 'aria-label': `Select all of ${title}` } });
  pick.addEventListener('click', select);
  return el(level, { text: title }, [pick]);
}

// Fills `root` with the tiles of `items` (in their order), grouped by month and then by
// day; a heading's button selects its group through `selectWhere(test)`.
export function groupTiles(el, root, items, { tile, selectWhere }) {
  let month = null;
  let monthBox = null;
  let day = null;
  let tiles = null;
  for (const item of items) {
    if (monthOf(item) !== month) {
      const key = monthOf(item);
      month = key;
      const title = item.day ? monthFormat.format(localDate(item.day)) : 'No date';
      monthBox = el('section', { cls: 'month' }, [heading(el, 'h3', title, 'Select month', () => selectWhere((i) => monthOf(i) === key))]);
      root.append(monthBox);
      day = null;
    }
    if (item.day !== day) {
      const key = item.day;
      day = key;
      const title = item.day ? dayFormat.format(localDate(item.day)) : 'No date';
      tiles = el('div', { cls: 'tiles' });
      monthBox.append(el('section', { cls: 'day' }, [heading(el, 'h4', title, 'Select day', () => selectWhere((i) => i.day === key)), tiles]));
    }
    tiles.append(tile(item));
  }
  if (!items.length) root.append(el('p', { text: 'Nothing matches these filters.' }));
}

// Adds to the selection every shown item that passes `test`.
export function selectShown(grid, test) {
  for (const id of grid.shown) if (test(grid.byId.get(id))) grid.selected.add(id);
}
