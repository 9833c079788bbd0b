// The Switchboard console's script: while the tab is visible it fetches each panel's HTML
// fragment every few seconds and swaps in only the parts that changed (elements with data-key);
// it filters the catalog, says how long ago things happened, and posts the actions with the
// page's token. Without it the page still shows everything and the forms still post.
"use strict";
(() => {
  const every = Number(document.body.dataset.refreshMs) || 3000;
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const live = document.getElementById("live");
  const notice = document.getElementById("notice");
  const panels = Array.from(document.querySelectorAll("[data-panel]"));
  const last = new Map(); // panel -> the last fragment fetched
  let timer = 0;
  let running = false;

  let sayTimer = 0;
  function say(text, bad) {
    clearTimeout(sayTimer);
    notice.textContent = text;
    notice.hidden = !text;
    notice.classList.toggle("bad", Boolean(bad));
    if (text && !bad) sayTimer = setTimeout(() => say(""), 15000); // failures stay until the next word
  }

  function parse(html) {
    const t = document.createElement("template");
    t.innerHTML = html;
    const div = document.createElement("div");
    div.append(t.content);
    return div;
  }

  function units(root) {
    const m = new Map();
    for (const el of root.querySelectorAll("[data-key]")) {
      m.set(el.getAttribute("data-key"), el);
    }
    return m;
  }

  // skeleton is root's markup without its keyed units' attributes and content: when it is the
  // same, swapping the units that changed is enough.
  function skeleton(root) {
    const c = root.cloneNode(true);
    for (const el of c.querySelectorAll("[data-key]")) {
      el.replaceChildren();
      for (const a of Array.from(el.attributes)) {
        if (a.name !== "data-key") el.removeAttribute(a.name);
      }
    }
    return c.innerHTML;
  }

  // swap brings target (a panel's body) to html; prev is what target was rendered from.
  function swap(target, prev, html) {
    const next = parse(html);
    const before = prev === undefined ? target.cloneNode(true) : parse(prev);
    const oldUnits = units(before);
    const newUnits = units(next);
    const sameShape = skeleton(before) === skeleton(next) &&
      oldUnits.size === newUnits.size && [...newUnits.keys()].every((k) => oldUnits.has(k));
    if (!sameShape) {
      target.replaceChildren(...next.childNodes);
      return true;
    }
    const liveUnits = units(target);
    let all = true;
    for (const [key, fresh] of newUnits) {
      if (oldUnits.get(key).outerHTML === fresh.outerHTML) continue;
      const here = liveUnits.get(key);
      if (!here) continue;
      if (here.contains(document.activeElement) && document.activeElement !== document.body) {
        all = false; // someone is typing in it: next time
        continue;
      }
      here.replaceWith(fresh);
    }
    return all;
  }

  async function refreshPanel(panel) {
    const res = await fetch(panel.dataset.src, {
      cache: "no-cache", credentials: "same-origin", headers: { "X-Console": "fetch" },
    });
    if (!res.ok) {
      const why = res.status === 401 || res.status === 403 ? "the gateway refused it; reload the page to sign in again" : "HTTP " + res.status;
      throw new Error(panel.id + ": " + why);
    }
    const html = await res.text();
    if (last.get(panel) === html) return;
    if (swap(panel.querySelector(".body"), last.get(panel), html)) {
      last.set(panel, html);
    }
    if (panel.id === "catalog") applyFilter();
  }

  let failing = false;
  async function tick() {
    timer = 0;
    if (document.visibilityState !== "visible") return; // visibilitychange starts it again
    running = true;
    try {
      await Promise.all(panels.map(refreshPanel));
      live.textContent = "live";
      live.classList.remove("stale");
      if (failing) say("");
      failing = false;
    } catch (e) {
      live.textContent = "stale";
      live.classList.add("stale");
      say("Not refreshed: " + e.message + ". Retrying.", true);
      failing = true;
    } finally {
      running = false;
      ages();
      schedule();
    }
  }

  function schedule() {
    if (!timer && document.visibilityState === "visible") timer = setTimeout(tick, every);
  }

  function now() {
    clearTimeout(timer);
    timer = 0;
    if (!running) tick();
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      now();
    } else {
      clearTimeout(timer); // a hidden tab costs the gateway nothing
      timer = 0;
    }
  });

  // ages turns each <time class="ago"> into "3m ago", keeping the date in its title.
  function ages() {
    const t = Date.now();
    for (const el of document.querySelectorAll("time.ago")) {
      const at = Date.parse(el.getAttribute("datetime"));
      if (Number.isNaN(at)) continue;
      const s = Math.max(0, Math.round((t - at) / 1000));
      let text;
      if (s < 60) text = s + "s ago";
      else if (s < 3600) text = Math.floor(s / 60) + "m ago";
      else if (s < 172800) text = Math.floor(s / 3600) + "h" + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m ago";
      else text = Math.floor(s / 86400) + "d ago";
      if (el.textContent !== text) el.textContent = text;
      el.title = new Date(at).toLocaleString();
    }
  }

  // The catalog filter: every word must appear in the row.
  const filter = document.getElementById("filter");
  const count = document.getElementById("filter-count");
  function applyFilter() {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    let all = 0;
    for (const row of document.querySelectorAll("#catalog tr[data-tool]")) {
      all++;
      const text = row.textContent.toLowerCase();
      const hit = words.every((w) => text.includes(w));
      row.hidden = !hit;
      if (hit) shown++;
    }
    count.textContent = words.length ? shown + " of " + all : "";
  }
  filter.closest(".filter").hidden = false;
  filter.addEventListener("input", applyFilter);

  // Actions: posted with the token in a header, the answer shown, then a refresh at once.
  document.addEventListener("submit", async (ev) => {
    const form = ev.target.closest("form[data-action]");
    if (!form) return;
    ev.preventDefault();
    const buttons = Array.from(form.querySelectorAll("button:not(:disabled)"));
    for (const b of buttons) b.disabled = true;
    try {
      const res = await fetch(form.action, {
        method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(form)),
        headers: { "X-Console": "fetch", "X-CSRF-Token": token },
      });
      say(await res.text(), !res.ok);
    } catch (e) {
      say("The action did not reach the gateway: " + e.message, true);
    } finally {
      for (const b of buttons) b.disabled = false;
      now();
    }
  });

  live.textContent = "live";
  ages();
  schedule();
})();
