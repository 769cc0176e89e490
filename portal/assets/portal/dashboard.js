/* Dashboard: pot values and wins as they happen. */
(function () {
  "use strict";
  var live = window.PortalLive;

  live.on("JackpotUpdate", function (message) {
    var data = message.data;
    data.pots.forEach(function (pot) {
      var el = document.querySelector('[data-pot="' + data.id + ":" + pot.id + '"]');
      if (el && el.textContent !== live.money(pot.current_value)) {
        el.textContent = live.money(pot.current_value);
        el.classList.add("flash");
        setTimeout(function () { el.classList.remove("flash"); }, 1200);
      }
    });
    var state = document.querySelector('[data-state="' + data.id + '"]');
    if (state) { state.textContent = data.status; state.className = "pill " + data.status; }
  });

  live.on("WinEvent", function (message) {
    var body = document.querySelector("#recent-wins tbody");
    if (!body) { return; }
    var d = message.data;
    var row = document.createElement("tr");
    [new Date(d.timestamp).toLocaleTimeString(), d.jackpot_name, d.win_pot_id, d.brand_id + " / " + d.player_id,
     live.money(d.win_amount) + " " + d.currency, d.win_withheld ? "withheld" : ""].forEach(function (text) {
      var cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    });
    row.classList.add("flash");
    body.insertBefore(row, body.firstChild);
    var empty = document.getElementById("no-wins");
    if (empty) { empty.remove(); }
  });

  live.subscribe(["JackpotUpdate", "WinEvent"]);
  live.start();
})();
