// The dashboard's live updates: the page's <main> is fetched again (?fragment=1) when
// the events stream (/events) says something changed, and every few seconds besides;
// never while the operator is typing, has rows chosen or text selected in it. Also:
// "choose all", and a question before an action that asks for one (data-confirm).
(function () {
  "use strict";
  const main = document.getElementById("live");
  if (!main) return;
  let busy = false, again = false, timer = null, stream = null, last = null;

  function calm() {
    const a = document.activeElement;
    if (a && main.contains(a) && ["INPUT", "TEXTAREA", "SELECT"].includes(a.tagName)) return false;
    const chosen = window.getSelection();
    if (chosen && !chosen.isCollapsed && main.contains(chosen.anchorNode)) return false;
    return !main.querySelector("input[type=checkbox]:checked");
  }

  async function refresh() {
    if (document.hidden) return;
    if (busy) { again = true; return; }
    if (!calm()) return;
    busy = true;
    try {
      const url = new URL(window.location.href);
      url.searchParams.set("fragment", "1");
      url.searchParams.delete("said");
      const reply = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (reply.ok || reply.status === 503) {  // 503: Redis is away, and the page says so
        const html = await reply.text();
        if (calm() && html !== last) { main.innerHTML = html; last = html; }
        document.body.dataset.refreshed = String(Date.now());
      }
    } catch (e) {
      // the dashboard is away for a moment: the next tick tries again
    } finally {
      busy = false;
      if (again) { again = false; soon(); }
    }
  }

  function soon() {
    if (timer === null) timer = setTimeout(function () { timer = null; refresh(); }, 200);
  }

  function listen() {  // the events stream while the page is seen; closed while hidden
    if (!window.EventSource || main.dataset.events !== "on" || stream) return;
    stream = new EventSource("/events");
    stream.addEventListener("change", soon);
    stream.addEventListener("open", soon);  // what happened before it was open
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      if (stream) { stream.close(); stream = null; }
    } else {
      listen();
      soon();
    }
  });

  setInterval(refresh, Number(main.dataset.live) || 5000);
  listen();

  document.addEventListener("change", function (event) {
    const box = event.target;
    if (box instanceof HTMLInputElement && box.dataset.all) {
      for (const other of main.querySelectorAll('input[name="' + box.dataset.all + '"]')) {
        other.checked = box.checked;
      }
    }
  });

  document.addEventListener("submit", function (event) {
    const button = event.submitter;
    if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
