/* Player page: opt-ins and raffle tickets through the staff socket, live. */
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
    cell(row, "preferred", data.preferred_contribution_value === null ? "default" : live.money(data.preferred_contribution_value));
    cell(row, "value", data.contribution_value === null ? "—" : live.money(data.contribution_value));
    cell(row, "count", String(data.contribution_count));
    cell(row, "updated", new Date(data.last_updated).toLocaleString());
    row.classList.add("flash");
    setTimeout(function () { row.classList.remove("flash"); }, 1200);
  }

  live.on("OptInEvent", function (message) {
    if (message.player_id !== player.player_id || message.brand_id !== player.brand_code) { return; }
    showOptIn(message.data);
    say((message.data.opted_in ? "Opted in to " : "Opted out of ") + (names[message.data.instance_id] || "the jackpot") + ".", "success");
  });

  live.on("PlayerRaffleTicketListResponse", function (message) {
    if (message.player_id !== player.player_id) { return; }
    var body = document.querySelector("#tickets tbody");
    body.innerHTML = "";
    var tickets = message.data.instance_tickets;
    if (!tickets.length) {
      body.innerHTML = '<tr><td colspan="3" class="empty">No tickets in any active raffle.</td></tr>';
      return;
    }
    tickets.forEach(function (t) {
      var row = document.createElement("tr");
      [names[t.instance_id] || t.instance_id, String(t.ticket_count),
       t.timestamp_end ? new Date(t.timestamp_end).toLocaleString() : "—"].forEach(function (text) {
        var td = document.createElement("td");
        td.textContent = text;
        row.appendChild(td);
      });
      body.appendChild(row);
    });
  });

  live.on("Error", function (message) { say(message.data.message + " (" + message.data.code + ")", "error"); });

  function request(instanceId, optIn, value) {
    var body = {instance_id: instanceId, player_id: player.player_id, brand_id: player.brand_key,
                player_country: player.country || undefined, opt_in: optIn};
    if (optIn && value !== "") {
      var number = Number(value);
      if (!isFinite(number) || number <= 0) { say("Enter a positive contribution value.", "error"); return; }
      body.contribution_value = number;
    }
    say("Sending…", "");
    live.send("PlayerOptInRequest", body);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form.optin")) { return; }
    event.preventDefault();
    var instance = form.querySelector("[name=instance]").value;
    var value = form.querySelector("[name=contribution_value]");
    request(instance, event.submitter && event.submitter.value === "out" ? false : true, value ? value.value.trim() : "");
  });

  document.getElementById("refresh-tickets").addEventListener("click", function () {
    live.send("PlayerRaffleTicketsRequest", {player_id: player.player_id, brand_id: player.brand_key});
  });

  live.subscribe(["OptInEvent"]);
  live.start();
  live.send("PlayerRaffleTicketsRequest", {player_id: player.player_id, brand_id: player.brand_key});
})();
