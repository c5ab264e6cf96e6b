// router.js — one page per app; the view lives in the URL query
// (/?view=ledger, /?q=air&theme=environment), so the back button and
// shared links work.  Links marked data-nav change the URL without a
// reload; render(params) draws the view for the current URL.

let renderFn = null;

export function params() {
  return new URLSearchParams(location.search);
}

export function navigate(url, { replace = false } = {}) {
  const u = new URL(url, location.href);
  if (u.origin !== location.origin) { location.href = url; return; }
  if (replace) history.replaceState(null, '', u.pathname + u.search + u.hash);
  else history.pushState(null, '', u.pathname + u.search + u.hash);
  run(true);
}

// The URL of the current page with some query members changed (null or ''
// removes one).
export function withParams(changes, base = params()) {
  const p = new URLSearchParams(base);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') p.delete(k);
    else p.set(k, v);
  }
  const str = p.toString();
  return `/${str ? `?${str}` : ''}`;
}

function run(moveFocus) {
  if (!renderFn) return;
  Promise.resolve(renderFn(params())).catch((e) => console.warn(e));
  if (moveFocus) {
    const main = document.getElementById('main');
    if (main) main.focus({ preventScroll: false });
    window.scrollTo(0, 0);
  }
}

export function start(render) {
  renderFn = render;
  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[data-nav]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  window.addEventListener('popstate', () => run(false));
  run(false);
}

// Mark the nav link of the current view.
export function markNav(view) {
  for (const a of document.querySelectorAll('header.top nav a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}
