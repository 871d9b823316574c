// The dashboard's live updates: the page's <main> is fetched again (?fragment=1) when
// the events stream (/events) says something changed, and every few seconds besides;
// never while the operator is typing or has rows chosen. Also: "choose all".
(function () {
  "use strict";
  const main = document.getElementById("live");
  if (!main) return;
  let busy = false, again = false, timer = null;

  function calm() {
    const a = document.activeElement;
    if (a && main.contains(a) && ["INPUT", "TEXTAREA", "SELECT"].includes(a.tagName)) return false;
    return !main.querySelector("input[type=checkbox]:checked");
  }

  async function refresh() {
    if (busy) { again = true; return; }
    if (!calm()) return;
    busy = true;
    try {
      const url = new URL(window.location.href);
      url.searchParams.set("fragment", "1");
      url.searchParams.delete("said");
      const reply = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (reply.ok && calm()) {
        main.innerHTML = await reply.text();
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

  setInterval(refresh, Number(main.dataset.live) || 5000);
  if (window.EventSource && main.dataset.events === "on") {
    const stream = new EventSource("/events");
    stream.addEventListener("change", soon);
  }

  document.addEventListener("change", function (event) {
    const box = event.target;
    if (box instanceof HTMLInputElement && box.dataset.all) {
      for (const other of main.querySelectorAll('input[name="' + box.dataset.all + '"]')) {
        other.checked = box.checked;
      }
    }
  });
})();
