/* Player page: opt-ins and raffle tickets through the staff socket, live. Every request ends
   in a visible outcome: the change shown, or the server's refusal in words. */
(function () {
  "use strict";
  var live = window.PortalLive;
  var player = JSON.parse(document.getElementById("player-data").textContent);
  var names = JSON.parse(document.getElementById("instance-names").textContent);

  function say(text, cls) {
    var el = document.getElementById("live-message");
    el.textContent = text;
    el.className = "messages-inline " + (cls || "");
  }

  function refusal(error) {
    return error.message + " (" + error.code + ")";
  }

  function cell(row, name, text) {
    var el = row.querySelector('[data-field="' + name + '"]');
    if (el) { el.textContent = text; }
    return el;
  }

  function showOptIn(data) {
    var table = document.querySelector("#optins tbody");
    var row = table.querySelector('tr[data-instance="' + data.instance_id + '"]');
    if (!row) {
      row = document.querySelector("#optin-row-template").content.firstElementChild.cloneNode(true);
      row.dataset.instance = data.instance_id;
      var hidden = row.querySelector("input[name=instance]");
      if (hidden) { hidden.value = data.instance_id; }
      cell(row, "name", names[data.instance_id] || data.instance_id);
      table.appendChild(row);
      var empty = document.getElementById("no-optins");
      if (empty) { empty.remove(); }
      var offer = document.querySelector('#offer option[value="' + data.instance_id + '"]');
      if (offer) { offer.remove(); }
      var select = document.getElementById("offer");
      if (select && !select.options.length) {
        document.getElementById("offer-form").hidden = true;
        document.getElementById("nothing-offered").hidden = false;
      }
    }
    var pill = cell(row, "opted_in", data.opted_in ? "opted in" : "opted out");
    pill.className = "pill " + (data.opted_in ? "in" : "out");
    var digits = row.dataset.digits ? Number(row.dataset.digits) : player.digits;  // the opt-in's currency
    cell(row, "preferred", data.preferred_contribution_value === null ? "default"
      : live.money(data.preferred_contribution_value, digits));
    cell(row, "value", data.contribution_value === null ? "—" : live.money(data.contribution_value, digits));
    cell(row, "count", String(data.contribution_count));
    cell(row, "updated", live.time(data.last_updated));
    row.classList.add("flash");
    setTimeout(function () { row.classList.remove("flash"); }, 1200);
  }

  function mine(message) {
    return message.player_id === player.player_id && message.brand_id === player.brand_code;
  }

  // Changes made elsewhere (another staff page, the operator's service socket).
  live.on("OptInEvent", function (message) { if (mine(message)) { showOptIn(message.data); } });

  function showTickets(message) {
    var body = document.querySelector("#tickets tbody");
    body.innerHTML = "";
    var tickets = message.data.instance_tickets;
    if (!tickets.length) {
      body.innerHTML = '<tr><td colspan="3" class="empty">No tickets in the current period of any active raffle.</td></tr>';
      return;
    }
    tickets.forEach(function (t) {
      var row = document.createElement("tr");
      // The current period: it is drawn when it ends, so its end is a future time, not a draw.
      var start = t.timestamp_start ? live.time(t.timestamp_start) : null;
      var end = t.timestamp_end ? live.time(t.timestamp_end) : null;
      var period = start && end ? start + " → " + end : end ? "until " + end : start ? "since " + start + ", no end set"
        : "no end set";
      [[names[t.instance_id] || t.instance_id, ""], [String(t.ticket_count), "num"], [period, "when"]].forEach(
        function (pair) {
          var td = document.createElement("td");
          td.textContent = pair[0];
          if (pair[1]) { td.className = pair[1]; }
          row.appendChild(td);
        });
      body.appendChild(row);
    });
  }

  function loadTickets() {
    var body = document.querySelector("#tickets tbody");
    live.request("PlayerRaffleTicketsRequest", {player_id: player.player_id, brand_id: player.brand_key},
      function (m) { return m.msg_name === "PlayerRaffleTicketListResponse" && m.player_id === player.player_id; })
      .then(showTickets, function (error) {
        body.innerHTML = "";
        var row = body.insertRow(), td = row.insertCell();
        td.colSpan = 3;
        td.className = "empty error";
        td.textContent = "Tickets could not be loaded: " + refusal(error);
      });
  }

  // Errors of requests this page did not send through `request` (should not happen; shown anyway).
  live.on("Error", function (message) { say(refusal(message.data), "error"); });

  function request(form, instanceId, optIn, value) {
    var body = {instance_id: instanceId, player_id: player.player_id, brand_id: player.brand_key,
                player_country: player.country || undefined, opt_in: optIn};
    if (optIn && value !== "") {
      if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) {
        say("Enter a positive contribution value, such as 0.50.", "error");
        return;
      }
      body.contribution_value = Number(value);
    }
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    say("Sending…", "");
    live.request("PlayerOptInRequest", body, function (m) {
      return m.msg_name === "OptInEvent" && mine(m) && m.data.instance_id === instanceId && m.data.opted_in === optIn;
    }).then(function () {  // the OptInEvent listener above has shown the row
      say((optIn ? "Opted in to " : "Opted out of ") + (names[instanceId] || "the jackpot") + ".", "success");
    }, function (error) {
      say((optIn ? "Opt-in refused: " : "Opt-out refused: ") + refusal(error), "error");
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form.optin")) { return; }
    event.preventDefault();
    var instance = form.querySelector("[name=instance]").value;
    var value = form.querySelector("[name=contribution_value]");
    request(form, instance, !(event.submitter && event.submitter.value === "out"), value ? value.value.trim() : "");
  });

  document.getElementById("refresh-tickets").addEventListener("click", loadTickets);

  live.subscribe(["OptInEvent"]);
  live.start();
  loadTickets();
})();
