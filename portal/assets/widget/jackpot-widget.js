/* The jackpot lobby widget: one script tag on a casino page, no build step, no dependencies.

     <div id="jackpots"></div>
     <script src="https://PORTAL/static/widget/jackpot-widget.js" async
             data-brand="thrilltech:brand1" data-target="#jackpots"
             data-currency="EUR" data-locale="en-GB"
             data-player-id="player_00001" data-token="PLAYER TOKEN"></script>

   Without a player token it shows the brand's live jackpots from the portal's public reads,
   polled every `data-poll-seconds` (10). With a player token (from POST /v1/players/token on the
   casino's backend, or the wallet's session token) and `data-player-id`, it opens the player
   WebSocket instead: values move as JackpotUpdate events arrive, wins are announced
   (WinEvent, RaffleWinEvent), and the player can opt in or out of each jackpot with a
   contribution value of their choice (PlayerOptInRequest -> OptInEvent, as in the seed).
   Amounts are kept as the exact decimal text the portal sends and formatted with
   Intl.NumberFormat for the page's locale and the currency, rounded down as the portal pays.

   The casino's origin must be among the operator's allowed origins (admin: Operators) for the
   browser to read the jackpots. `window.JackpotWidget.mount(element, options)` does the same from
   code and returns the widget (`.stop()` ends it); options: api, brand, currency, locale,
   playerId, token, country, pollSeconds, instances (ids to show), title. */
(function () {
  "use strict";

  var STYLE_ID = "jpw-style";
  var STYLES = [
    ".jpw{--jpw-bg:#101826;--jpw-card:#1b2638;--jpw-fg:#f4f6fb;--jpw-muted:#a9b4c8;--jpw-accent:#ffcc33;",
    "--jpw-ok:#58d68d;--jpw-bad:#ff8a80;--jpw-radius:12px;font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;",
    "background:var(--jpw-bg);color:var(--jpw-fg);border-radius:var(--jpw-radius);padding:16px}",
    ".jpw *{box-sizing:border-box}",
    ".jpw-head{display:flex;flex-wrap:wrap;align-items:center;gap:8px 16px;margin-bottom:12px}",
    ".jpw-head h2{font-size:1.25em;margin:0;flex:1 1 auto}",
    ".jpw-status{color:var(--jpw-muted);font-size:.85em}",
    ".jpw button{font:inherit;border:0;border-radius:8px;padding:6px 12px;cursor:pointer;",
    "background:var(--jpw-accent);color:#1a1300;font-weight:600}",
    ".jpw button.jpw-secondary{background:transparent;color:var(--jpw-fg);border:1px solid var(--jpw-muted)}",
    ".jpw button:disabled{opacity:.55;cursor:wait}",
    ".jpw :focus-visible{outline:3px solid var(--jpw-accent);outline-offset:2px}",
    ".jpw-list{list-style:none;margin:0;padding:0;display:grid;gap:12px;",
    "grid-template-columns:repeat(auto-fill,minmax(240px,1fr))}",
    ".jpw-jackpot{background:var(--jpw-card);border-radius:var(--jpw-radius);padding:12px 14px}",
    ".jpw-jackpot h3{font-size:1.05em;margin:0 0 6px}",
    ".jpw-kind{font-size:.75em;color:var(--jpw-muted);text-transform:uppercase;letter-spacing:.06em}",
    ".jpw-pots{margin:6px 0;display:grid;grid-template-columns:auto 1fr;gap:2px 12px;align-items:baseline}",
    ".jpw-pots dt{color:var(--jpw-muted);text-transform:capitalize}",
    ".jpw-pots dd{margin:0;text-align:right;font-variant-numeric:tabular-nums;font-weight:700;color:var(--jpw-accent)}",
    ".jpw-pots dd.jpw-top{font-size:1.35em}",
    ".jpw-optin{border-top:1px solid rgba(255,255,255,.12);margin-top:8px;padding-top:8px}",
    ".jpw-optin p{margin:0 0 6px}",
    ".jpw-optin .jpw-row{display:flex;gap:6px;align-items:center;flex-wrap:wrap}",
    ".jpw-optin button{padding:5px 10px}",
    ".jpw-optin label{font-size:.85em;color:var(--jpw-muted);width:100%}",
    ".jpw-optin input{font:inherit;width:5.5em;padding:5px 8px;border-radius:8px;border:1px solid var(--jpw-muted);",
    "background:#0b111b;color:var(--jpw-fg)}",
    ".jpw-in{color:var(--jpw-ok);font-weight:600}",
    ".jpw-message,.jpw-range{font-size:.85em;min-height:1.2em}",
    ".jpw-range{color:var(--jpw-muted)}",
    ".jpw-rules{color:var(--jpw-muted);font-size:.85em}",
    ".jpw-message.jpw-error{color:var(--jpw-bad)}",
    ".jpw-wins{margin-top:14px}",
    ".jpw-wins h3{font-size:1em;margin:0 0 4px}",
    ".jpw-wins ol{margin:0;padding-left:1.2em}",
    ".jpw-wins .jpw-empty{color:var(--jpw-muted);list-style:none;margin-left:-1.2em}",
    ".jpw-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}"
  ].join("");

  var counter = 0;

  /* JSON with every fractional number kept as its text: money is never a float here. */
  function parseJSON(text) {
    return JSON.parse(text, function (key, value, context) {
      if (typeof value === "number" && context && /[.eE]/.test(context.source)) { return context.source; }
      return value;
    });
  }

  /* --- exact decimals (strings) ------------------------------------------------------------ */

  var SCALE = 12;

  function scaled(text) {  // "12.5" -> 12500000000000n (SCALE decimals), exact
    var match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(text));
    if (!match) { match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(Number(text).toFixed(SCALE)); }
    var fraction = (match[3] || "").slice(0, SCALE);
    while (fraction.length < SCALE) { fraction += "0"; }
    var value = BigInt(match[2] + fraction);
    return match[1] ? -value : value;
  }

  function unscaled(value) {
    var negative = value < 0n;
    var digits = (negative ? -value : value).toString().padStart(SCALE + 1, "0");
    var text = digits.slice(0, digits.length - SCALE) + "." + digits.slice(digits.length - SCALE);
    return (negative ? "-" : "") + text.replace(/\.?0+$/, "");
  }

  /* value_in_X = value_in_base * multiplier[X] (SPEC 1): from one currency to another, exact
     to SCALE decimals (then rounded down to the currency's unit when shown). */
  function convert(amount, fromMultiplier, toMultiplier) {
    return unscaled(scaled(amount) * scaled(toMultiplier) / scaled(fromMultiplier));
  }

  /* --- formatting ---------------------------------------------------------------------------- */

  var formatters = {};

  function formatMoney(locale, currency, amount) {
    var key = locale + "|" + currency;
    if (!formatters[key]) {
      try {
        formatters[key] = new Intl.NumberFormat(locale, {style: "currency", currency: currency, roundingMode: "trunc"});
      } catch (e) {
        formatters[key] = new Intl.NumberFormat(undefined, {style: "currency", currency: currency});
      }
    }
    // A numeric string is formatted exactly (Intl.NumberFormat v3); rounded down like payouts.
    return formatters[key].format(String(amount));
  }

  function digitsOf(locale, currency) {
    try {
      return new Intl.NumberFormat(locale, {style: "currency", currency: currency}).resolvedOptions()
        .maximumFractionDigits;
    } catch (e) { return 2; }
  }

  function masked(playerId) {
    var id = String(playerId || "");
    return id.length <= 4 ? "A player" : "Player " + id.slice(0, 2) + "\u2026" + id.slice(-2);
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") { node.textContent = attrs.text; } else { node.setAttribute(name, attrs[name]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function injectStyle() {
    if (document.getElementById(STYLE_ID)) { return; }
    var style = el("style", {id: STYLE_ID});
    style.textContent = STYLES;
    (document.head || document.documentElement).appendChild(style);
  }

  /* --- the widget ----------------------------------------------------------------------------- */

  function Widget(root, options) {
    this.root = root;
    this.id = "jpw-" + (++counter);
    this.api = (options.api || "").replace(/\/$/, "");
    this.brand = options.brand;
    this.locale = options.locale || document.documentElement.lang || navigator.language || "en";
    this.currency = options.currency ? String(options.currency).toUpperCase() : null;
    this.playerId = options.playerId || null;
    this.token = options.token || null;
    this.country = options.country || null;
    this.pollMs = Math.max(1, Number(options.pollSeconds) || 10) * 1000;
    this.only = options.instances ? String(options.instances).split(/[\s,]+/).filter(Boolean) : null;
    this.title = options.title || "Jackpots";
    this.jackpots = {};    // id -> snapshot (JackpotUpdate data)
    this.order = [];
    this.optins = {};      // id -> the player's opt-in state (as in OptInEvent)
    this.rules = {};       // id -> the jackpot's public rules (who funds it, values per currency)
    this.rates = null;     // {code: multiplier} from /v1/currencies
    this.wins = [];
    this.paused = false;
    this.pending = {};     // instance id -> {form, button}
    this.backoff = 1000;
    this.timer = null;
    this.socket = null;
  }

  Widget.prototype.player = function () { return Boolean(this.token && this.playerId); };

  Widget.prototype.start = function () {
    injectStyle();
    this.render();
    if (this.currency) { this.loadRates(); }
    if (this.player()) {
      this.load();  // the jackpots with the player's own opt-in state, then live over the socket
      this.connect();
    } else {
      this.poll();
    }
  };

  /* Stop polling and close the socket (a single-page casino unmounting the lobby). */
  Widget.prototype.stop = function () {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) { this.socket.onclose = null; this.socket.close(); }
  };

  Widget.prototype.status = function (text) { this.statusNode.textContent = text; };

  /* The brand's live jackpots (a public read; with the player's token, their own opt-ins too). */
  Widget.prototype.list = function () {
    var url = this.api + "/v1/thrillpots/instances/brand/" + encodeURIComponent(this.brand);
    var headers = {Accept: "application/json"};
    if (this.player()) {
      url += "?player_id=" + encodeURIComponent(this.playerId);
      headers.Authorization = "Bearer " + this.token;
    }
    return fetch(url, {headers: headers}).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    }).then(parseJSON);
  };

  Widget.prototype.show = function (list) {
    var self = this;
    var seen = {};
    list.forEach(function (snapshot) {
      seen[snapshot.id] = true;
      if (snapshot.player_optin && !self.optins[snapshot.id]) { self.optins[snapshot.id] = snapshot.player_optin; }
      self.update(snapshot);
    });
    Object.keys(this.jackpots).forEach(function (id) { if (!seen[id]) { self.remove(id); } });
  };

  Widget.prototype.load = function () {
    var self = this;
    this.list().then(function (list) { self.show(list); })
      .catch(function () { /* the socket's JackpotUpdate snapshots show the jackpots anyway */ });
  };

  Widget.prototype.poll = function () {
    var self = this;
    clearTimeout(this.timer);
    this.list()
      .then(function (list) {
        self.show(list);
        self.status("Updated every " + self.pollMs / 1000 + " s");
      })
      .catch(function () { self.status("Jackpot values are unavailable right now; retrying"); })
      .then(function () {
        if (!self.stopped) { self.timer = setTimeout(function () { self.poll(); }, self.pollMs); }
      });
  };

  Widget.prototype.loadRates = function () {
    var self = this;
    fetch(this.api + "/v1/currencies?brand_id=" + encodeURIComponent(this.brand))
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (!text) { return; }
        self.rates = parseJSON(text).multipliers || null;
        self.order.forEach(function (id) { self.paint(id); });
      })
      .catch(function () { /* amounts stay in each jackpot's own currency */ });
  };

  /* The player socket (SPEC 3): events for the brand, and the player's own opt-ins. */
  Widget.prototype.socketUrl = function () {
    var base = new URL(this.api || location.href, location.href);
    var parts = this.brand.split(":");
    return (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/v1/events/" +
      encodeURIComponent(parts[0]) + "/" + encodeURIComponent(parts[1]) + "?token=" +
      encodeURIComponent(this.token) + "&currency=" + encodeURIComponent(this.currency || "EUR");
  };

  Widget.prototype.connect = function () {
    var self = this;
    var socket = new WebSocket(this.socketUrl());
    this.socket = socket;
    socket.onopen = function () {
      self.backoff = 1000;
      self.status("Live");
      socket.send(JSON.stringify({SubscribeRequest: {events: [{source: "thrillpots", event_type: "*"}]}}));
    };
    socket.onmessage = function (event) { self.receive(parseJSON(event.data)); };
    socket.onclose = function (event) {
      self.failPending("The connection dropped before the portal answered; try again.");
      if (event.code === 4401) {  // the token was refused: show the public values instead
        self.status("Signed out: showing public values");
        self.token = null;
        self.order.slice().forEach(function (id) { self.paint(id); });
        self.poll();
        return;
      }
      self.status("Reconnecting\u2026");
      setTimeout(function () { self.connect(); }, self.backoff);
      self.backoff = Math.min(self.backoff * 2, 30000);
    };
  };

  Widget.prototype.receive = function (message) {
    var data = message.data || {};
    if (message.msg_type === "Error") {
      // Requests are answered in order: a refused PlayerOptInRequest is the oldest one waiting.
      var waiting = Object.keys(this.pending);
      if (message.msg_name === "PlayerOptInRequest" && waiting.length) {
        this.settle(waiting[0], data.message + " (" + data.code + ")", true);
      }
      return;
    }
    if (message.msg_name === "JackpotUpdate") {
      if (data.status === "Terminated") { this.remove(data.id); } else { this.update(data); }
    } else if (message.msg_name === "WinEvent") {
      this.announce({who: data.player_id, brand: data.brand_id, amount: data.win_amount, currency: data.currency,
                     jackpot: data.jackpot_name, pot: data.win_pot_id, withheld: data.win_withheld});
    } else if (message.msg_name === "RaffleWinEvent") {
      var self = this;
      (data.winners || []).forEach(function (w) {
        self.announce({who: w.player_id, brand: w.brand_id, amount: w.win_amount, currency: w.currency,
                       jackpot: data.jackpot_name, pot: null, withheld: data.win_withheld});
      });
    } else if (message.msg_name === "OptInEvent" && data.player_id === this.playerId) {
      this.optins[data.instance_id] = data;
      this.paint(data.instance_id);
      if (this.pending[data.instance_id]) {
        this.settle(data.instance_id, data.opted_in ? "You are in." : "You have left this jackpot.", false);
      }
    }
  };

  /* --- state ----------------------------------------------------------------------------------- */

  Widget.prototype.update = function (snapshot) {
    if (this.only && this.only.indexOf(snapshot.id) < 0) { return; }
    var known = this.jackpots[snapshot.id];
    if (!known) {
      this.order.push(snapshot.id);
      this.jackpots[snapshot.id] = snapshot;
      this.listNode.appendChild(this.card(snapshot));
      if (this.player() && snapshot.jackpot_type !== "Raffle") { this.loadRules(snapshot.id); }
    } else if (!snapshot.rules_url && known.rules_url) {
      snapshot.rules_url = known.rules_url;  // JackpotUpdate events carry values, not the link
    }
    this.jackpots[snapshot.id] = snapshot;
    if (!this.paused || !known) { this.paint(snapshot.id); }  // paused: new jackpots still show
  };

  Widget.prototype.remove = function (id) {
    delete this.jackpots[id];
    this.order = this.order.filter(function (x) { return x !== id; });
    var node = this.cardNode(id);
    if (node) { node.remove(); }
  };

  /* The jackpot's public rules: whether players opt in to it, and the values they may choose. */
  Widget.prototype.loadRules = function (id) {
    var self = this;
    fetch(this.api + "/v1/thrillpots/instances/" + encodeURIComponent(id) + "/rules")
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        self.rules[id] = text ? parseJSON(text).rules : null;
        self.paint(id);
      })
      .catch(function () {  // without its rules the jackpot offers the plain opt-in control
        self.rules[id] = null;
        self.paint(id);
      });
  };

  Widget.prototype.announce = function (win) {
    var mine = win.who === this.playerId && (!this.brand || this.brand.split(":")[1] === win.brand);
    var text = (mine ? "You" : masked(win.who)) + " won " + formatMoney(this.locale, win.currency, win.amount) +
      " on " + win.jackpot + (win.pot ? " (" + win.pot + ")" : "") +
      (win.withheld ? ", pending approval" : "");
    this.wins.unshift(text);
    this.wins = this.wins.slice(0, 5);
    var list = this.winsNode;
    list.textContent = "";
    this.wins.forEach(function (line) { list.appendChild(el("li", {text: line})); });
  };

  /* --- rendering --------------------------------------------------------------------------------- */

  Widget.prototype.render = function () {
    var self = this;
    var titleId = this.id + "-title";
    this.statusNode = el("span", {"class": "jpw-status", role: "status", text: "Loading\u2026"});
    this.pauseButton = el("button", {type: "button", "class": "jpw-secondary jpw-pause", "aria-pressed": "false",
                                     text: "Pause live values"});
    this.pauseButton.addEventListener("click", function () { self.togglePause(); });
    this.listNode = el("ul", {"class": "jpw-list", "aria-labelledby": titleId});
    this.winsNode = el("ol", {"aria-live": "polite", "aria-relevant": "additions"},
                       [el("li", {"class": "jpw-empty", text: this.player() ? "No wins yet." :
                         "Wins are announced here for logged-in players."})]);
    var winsTitle = this.id + "-wins";
    this.root.textContent = "";
    this.root.appendChild(el("section", {"class": "jpw", "aria-labelledby": titleId}, [
      el("div", {"class": "jpw-head"}, [el("h2", {id: titleId, text: this.title}), this.statusNode,
                                        this.pauseButton]),
      this.listNode,
      el("section", {"class": "jpw-wins", "aria-labelledby": winsTitle}, [
        el("h3", {id: winsTitle, text: "Latest wins"}), this.winsNode])
    ]));
  };

  Widget.prototype.togglePause = function () {
    var self = this;
    this.paused = !this.paused;
    this.pauseButton.setAttribute("aria-pressed", String(this.paused));
    this.pauseButton.textContent = this.paused ? "Resume live values" : "Pause live values";
    if (!this.paused) { this.order.forEach(function (id) { self.paint(id); }); }
  };

  Widget.prototype.cardNode = function (id) {
    return this.listNode.querySelector('[data-instance="' + CSS.escape(id) + '"]');
  };

  Widget.prototype.card = function (snapshot) {
    var self = this;
    var id = snapshot.id;
    var prefix = this.id + "-" + id;
    var card = el("li", {"class": "jpw-jackpot", "data-instance": id, "aria-labelledby": prefix + "-name"}, [
      el("span", {"class": "jpw-kind"}),
      el("h3", {id: prefix + "-name"}),
      el("dl", {"class": "jpw-pots"}),
      el("a", {"class": "jpw-rules", target: "_blank", rel: "noopener", hidden: ""})
    ]);
    if (this.player() && snapshot.jackpot_type !== "Raffle") {
      var input = el("input", {id: prefix + "-value", name: "contribution_value", type: "number",
                               inputmode: "decimal", min: "0", step: "any",
                               "aria-describedby": prefix + "-state " + prefix + "-range"});
      var join = el("button", {type: "submit", value: "in", text: "Join"});
      var leave = el("button", {type: "button", value: "out", "class": "jpw-secondary", text: "Leave"});
      // Hidden until the jackpot's rules say whether players opt in to it.
      var form = el("form", {"class": "jpw-optin", novalidate: "", hidden: "",
                             "aria-label": "Your participation in " + snapshot.name}, [
        el("p", {id: prefix + "-state", "class": "jpw-state"}),
        el("div", {"class": "jpw-row"}, [
          el("label", {"for": prefix + "-value", "class": "jpw-value-label"}), input, join, leave]),
        el("p", {id: prefix + "-range", "class": "jpw-range"}),
        el("p", {"class": "jpw-message", role: "status"})
      ]);
      form.addEventListener("submit", function (event) { event.preventDefault(); self.optIn(id, true, form); });
      leave.addEventListener("click", function () { self.optIn(id, false, form); });
      card.appendChild(form);
    }
    return card;
  };

  Widget.prototype.displayCurrency = function (snapshot) {
    if (this.currency && this.rates && this.rates[this.currency] && this.rates[snapshot.currency]) {
      return this.currency;
    }
    return snapshot.currency;
  };

  Widget.prototype.shown = function (snapshot, value) {
    var currency = this.displayCurrency(snapshot);
    if (currency !== snapshot.currency) {
      value = convert(value, this.rates[snapshot.currency], this.rates[currency]);
    }
    return formatMoney(this.locale, currency, value);
  };

  Widget.prototype.paint = function (id) {
    var snapshot = this.jackpots[id];
    var card = this.cardNode(id);
    if (!snapshot || !card) { return; }
    var self = this;
    card.querySelector(".jpw-kind").textContent = snapshot.jackpot_type === "Raffle" ? "Raffle" :
      (snapshot.status === "Active" ? "Jackpot" : "Jackpot \u00b7 " + snapshot.status.toLowerCase());
    card.querySelector("h3").textContent = snapshot.name;
    var pots = card.querySelector(".jpw-pots");
    var top = null;
    (snapshot.pots || []).forEach(function (pot) {
      if (!top || Number(pot.current_value) > Number(top.current_value)) { top = pot; }
    });
    (snapshot.pots || []).forEach(function (pot) {
      var value = pots.querySelector('dd[data-pot="' + CSS.escape(pot.id) + '"]');
      if (!value) {
        // Announced as "<jackpot> <pot> pot: <amount>" when the amount changes (unless paused).
        value = el("dd", {"data-pot": pot.id, "aria-live": "polite", "aria-atomic": "true"}, [
          el("span", {"class": "jpw-sr", text: snapshot.name + " " + pot.id + " pot: "}),
          el("span", {"class": "jpw-amount"})]);
        pots.appendChild(el("dt", {text: pot.id}));
        pots.appendChild(value);
      }
      var amount = value.querySelector(".jpw-amount");
      var text = self.shown(snapshot, pot.current_value);
      if (amount.textContent !== text) { amount.textContent = text; }  // unchanged: nothing re-announced
      value.classList.toggle("jpw-top", pot === top);
    });
    var rules = card.querySelector(".jpw-rules");
    if (snapshot.rules_url) {
      rules.href = snapshot.rules_url;
      rules.textContent = "Rules";
      rules.setAttribute("aria-label", "Rules of " + snapshot.name + " (opens a new tab)");
      rules.hidden = false;
    }
    var form = card.querySelector(".jpw-optin");
    if (form) { this.paintOptIn(snapshot, form); }
  };

  /* The player's part: whether they are in and at what value, Join / Change / Leave. */
  Widget.prototype.paintOptIn = function (snapshot, form) {
    var id = snapshot.id;
    var optin = this.optins[id];
    var opted = Boolean(optin && optin.opted_in);
    var rules = this.rules[id];
    if (rules === undefined && !opted) { form.hidden = true; return; }  // the rules are on their way
    var eligibility = (rules && rules.eligibility) || {};
    var funding = (rules && rules.funding) || {};
    form.hidden = !opted && eligibility.opt_in_required === false;  // operator-funded: nothing to join
    var currency = this.currency || snapshot.currency;
    var chooses = !rules || funding.player_chooses_value !== false;
    var input = form.querySelector("input");
    var label = form.querySelector(".jpw-value-label");
    var range = form.querySelector(".jpw-range");
    input.hidden = label.hidden = range.hidden = !chooses;
    label.textContent = "Your contribution per bet (" + currency + ")";
    input.step = String(Math.pow(10, -digitsOf(this.locale, currency)));
    var limits = (funding.currency_values || []).filter(function (v) { return v.currency === currency; })[0];
    range.textContent = "";
    if (limits) {
      if (limits.min_value !== null && limits.min_value !== undefined) { input.min = String(limits.min_value); }
      if (limits.max_value !== null && limits.max_value !== undefined) { input.max = String(limits.max_value); }
      if (limits.default_value !== null && limits.default_value !== undefined) {
        input.placeholder = String(limits.default_value);
      }
      if (limits.min_value !== null && limits.max_value !== null) {
        range.textContent = "Choose between " + formatMoney(this.locale, currency, limits.min_value) + " and " +
          formatMoney(this.locale, currency, limits.max_value) + ", or leave it empty for the default" +
          (limits.default_value !== null ? " (" + formatMoney(this.locale, currency, limits.default_value) + ")" : "") +
          ".";
      }
    }
    var state = form.querySelector(".jpw-state");
    state.textContent = "";
    if (opted) {
      // (Not the count of bets: it moves with every bet, and no event says so.)
      var value = optin.contribution_value !== null && optin.contribution_value !== undefined ?
        formatMoney(this.locale, currency, optin.contribution_value) + " per bet" : "the default contribution";
      state.appendChild(el("span", {"class": "jpw-in", text: "You are in: " + value}));
      form.querySelector('button[value="in"]').textContent = chooses ? "Change" : "Joined";
      form.querySelector('button[value="in"]').hidden = !chooses;
      form.querySelector('button[value="out"]').hidden = false;
      if (!input.value && optin.preferred_contribution_value !== null &&
          optin.preferred_contribution_value !== undefined) {
        input.value = String(optin.preferred_contribution_value);
      }
    } else {
      state.textContent = "Not joined. Join to play for this jackpot with every bet.";
      form.querySelector('button[value="in"]').textContent = "Join";
      form.querySelector('button[value="in"]').hidden = false;
      form.querySelector('button[value="out"]').hidden = true;
    }
  };

  /* --- opt in / out (PlayerOptInRequest, exactly as in the seed) --------------------------------- */

  Widget.prototype.optIn = function (id, optIn, form) {
    var message = form.querySelector(".jpw-message");
    var text = form.querySelector("input").value.trim().replace(",", ".");
    if (optIn && text && !/^\d+(\.\d+)?$/.test(text)) {
      message.className = "jpw-message jpw-error";
      message.textContent = "Enter an amount such as 0.30, or leave it empty for the default.";
      return;
    }
    if (!this.socket || this.socket.readyState !== 1) {
      message.className = "jpw-message jpw-error";
      message.textContent = "Not connected yet; try again in a moment.";
      return;
    }
    var body = {instance_id: id, player_id: this.playerId, brand_id: this.brand, opt_in: optIn};
    if (this.country) { body.player_country = this.country; }
    var json = JSON.stringify({PlayerOptInRequest: body});
    if (optIn && text) {  // the amount as typed, a JSON number: never through a float
      json = json.replace(/}}$/, ',"contribution_value":' + text + "}}");
    }
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    message.className = "jpw-message";
    message.textContent = optIn ? "Joining\u2026" : "Leaving\u2026";
    var self = this;
    this.pending[id] = {form: form, timer: setTimeout(function () {
      self.settle(id, "No answer from the portal; try again.", true);
    }, 10000)};
    this.socket.send(json);
  };

  Widget.prototype.settle = function (id, text, failed) {
    var entry = this.pending[id];
    if (!entry) { return; }
    delete this.pending[id];
    clearTimeout(entry.timer);
    entry.form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    var message = entry.form.querySelector(".jpw-message");
    message.className = "jpw-message" + (failed ? " jpw-error" : "");
    message.textContent = text;
  };

  Widget.prototype.failPending = function (text) {
    var self = this;
    Object.keys(this.pending).forEach(function (id) { self.settle(id, text, true); });
  };

  /* --- mounting ------------------------------------------------------------------------------------ */

  function mount(element, options) {
    if (typeof element === "string") { element = document.querySelector(element); }
    if (!element) { throw new Error("JackpotWidget: no element to mount on"); }
    if (!options || !options.brand) { throw new Error("JackpotWidget: `brand` (operator:brand) is required"); }
    var widget = new Widget(element, options);
    widget.start();
    return widget;
  }

  window.JackpotWidget = {mount: mount, format: formatMoney, convert: convert};

  var script = document.currentScript;
  if (script && script.dataset.brand) {
    var data = script.dataset;
    var options = {
      api: data.api || new URL(script.src, location.href).origin, brand: data.brand, currency: data.currency,
      locale: data.locale, playerId: data.playerId, token: data.token, country: data.country,
      pollSeconds: data.pollSeconds, instances: data.instances, title: data.title
    };
    var start = function () {
      var target = data.target ? document.querySelector(data.target) : null;
      if (!target) {
        target = document.createElement("div");
        script.parentNode.insertBefore(target, script.nextSibling);
      }
      mount(target, options);
    };
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
  }
})();
