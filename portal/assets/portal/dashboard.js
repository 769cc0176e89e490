/* Dashboard: pot values as they move, and the tiles and recent wins refreshed whenever the
   staff socket reports a contribution (JackpotUpdate) or a win (WinEvent). The refreshed parts
   are the server's own rendering (?part=live), so a live row reads exactly like the others. */
(function () {
  "use strict";
  var live = window.PortalLive;
  var REFRESH_GAP_MS = 1500;  // at most one refresh per gap, however busy the socket is
  var IDLE_REFRESH_MS = 30000;  // credits and callbacks also settle without any event
  var timer = null, last = 0, running = false, again = false;

  function flash(el) {
    el.classList.add("flash");
    setTimeout(function () { el.classList.remove("flash"); }, 1200);
  }

  function swap(fresh, id) {
    var old = document.getElementById(id), replacement = fresh.getElementById(id);
    if (!old || !replacement) { return; }
    var before = {};
    old.querySelectorAll("[data-kpi]").forEach(function (el) { before[el.dataset.kpi] = el.textContent; });
    var seen = {};
    old.querySelectorAll("tr[data-win]").forEach(function (row) { seen[row.dataset.win] = true; });
    old.replaceWith(replacement);
    replacement.querySelectorAll("[data-kpi]").forEach(function (el) {
      if (el.dataset.kpi in before && before[el.dataset.kpi] !== el.textContent) { flash(el); }
    });
    replacement.querySelectorAll("tr[data-win]").forEach(function (row) {
      if (!seen[row.dataset.win]) { flash(row); }
    });
  }

  function refresh() {
    if (running) { again = true; return; }
    running = true;
    last = Date.now();
    fetch("?part=live", {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (!response.ok || response.redirected) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = document.createElement("template");
        fresh.innerHTML = html;
        swap(fresh.content, "kpis");
        swap(fresh.content, "recent-wins-body");
      })
      .catch(function () { /* the next event or the idle timer tries again */ })
      .finally(function () {
        running = false;
        if (again) { again = false; soon(); }
      });
  }

  function soon() {
    if (timer) { return; }
    timer = setTimeout(function () { timer = null; refresh(); }, Math.max(0, last + REFRESH_GAP_MS - Date.now()));
  }

  live.on("JackpotUpdate", function (message) {
    var data = message.data;
    data.pots.forEach(function (pot) {
      var el = document.querySelector('[data-pot="' + data.id + ":" + pot.id + '"]');
      if (!el) { return; }
      var text = live.money(pot.current_value, Number(el.dataset.digits));
      if (el.textContent !== text) { el.textContent = text; flash(el); }
    });
    var state = document.querySelector('[data-state="' + data.id + '"]');
    if (state) { state.textContent = data.status; state.className = "pill " + data.status; }
    soon();
  });

  live.on("WinEvent", soon);
  live.on("RaffleWinEvent", soon);
  live.on("open", soon);  // catch up on what happened while the socket was away
  setInterval(soon, IDLE_REFRESH_MS);

  live.subscribe(["JackpotUpdate", "WinEvent", "RaffleWinEvent"]);
  live.start();
})();
