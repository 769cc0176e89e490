/* The staff pages' live connection: one WebSocket to /v1/events/staff (the portal session
   authenticates it), reconnecting with backoff; handlers by message name. Requests sent with
   `request` always end: in their reply, in the server's Error (msg_type "Error", msg_name the
   request's name, SPEC 3), or in a local error when the socket drops or nothing answers. */
(function () {
  "use strict";
  var listeners = {};
  var socket = null;
  var queue = [];
  var subscriptions = [];
  var backoff = 500;
  var pending = [];  // requests waiting for their reply, oldest first
  var ANSWER_WITHIN_MS = 10000;

  function url() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/events/staff";
  }

  function status(text, cls) {
    var el = document.getElementById("live-status");
    if (el) { el.textContent = text; el.className = "pill " + cls; }
  }

  /* Numbers with a fraction stay their JSON text ("430.72624"): money is never a float here. */
  function parse(text) {
    return JSON.parse(text, function (key, value, context) {
      if (typeof value === "number" && context && /[.eE]/.test(context.source)) { return context.source; }
      return value;
    });
  }

  function settle(entry, outcome, value) {
    pending.splice(pending.indexOf(entry), 1);
    clearTimeout(entry.timer);
    entry[outcome](value);
  }

  function emit(message) {
    if (message.msg_type === "Error") {
      var asked = pending.filter(function (p) { return p.name === message.msg_name; })[0];
      if (asked) { settle(asked, "reject", message.data); return; }
      if (!listeners.Error) {  // a page without its own error display: say it on the live pill
        status("error: " + message.data.code, "out");
        var pill = document.getElementById("live-status");
        if (pill) { pill.title = message.data.message; }
      }
      (listeners.Error || []).forEach(function (fn) { fn(message); });
      return;
    }
    var answered = pending.filter(function (p) { return p.match(message); })[0];
    (listeners[message.msg_name] || []).concat(listeners["*"] || []).forEach(function (fn) { fn(message); });
    if (answered) { settle(answered, "resolve", message); }
  }

  function failPending(code, text) {
    pending.slice().forEach(function (p) { settle(p, "reject", {code: code, message: text}); });
  }

  function connect() {
    socket = new WebSocket(url());
    socket.onopen = function () {
      backoff = 500;
      status("live", "in");
      if (subscriptions.length) {
        socket.send(JSON.stringify({SubscribeRequest: {events: subscriptions}}));
      }
      queue.splice(0).forEach(function (m) { socket.send(m); });
      (listeners.open || []).forEach(function (fn) { fn(); });
    };
    socket.onmessage = function (event) { emit(parse(event.data)); };
    socket.onclose = function (event) {
      failPending("DISCONNECTED", "The live connection dropped before the server answered; reload to see what was saved");
      if (event.code === 4401) { status("signed out: reload the page", "out"); return; }
      status("reconnecting…", "pending");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  function send(name, body) {
    var message = {};
    message[name] = body;
    var text = JSON.stringify(message);
    if (socket && socket.readyState === 1) { socket.send(text); } else { queue.push(text); }
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  window.PortalLive = {
    on: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
    subscribe: function (types) {
      subscriptions = types.map(function (t) { return {source: "thrillpots", event_type: t}; });
      if (socket && socket.readyState === 1) {
        socket.send(JSON.stringify({SubscribeRequest: {events: subscriptions}}));
      }
    },
    send: send,
    /* Send a request; the promise resolves with the first message `match` accepts and rejects
       with {code, message} on the server's Error for this request, a drop, or silence. */
    request: function (name, body, match) {
      return new Promise(function (resolve, reject) {
        var entry = {name: name, match: match, resolve: resolve, reject: reject};
        entry.timer = setTimeout(function () {
          settle(entry, "reject", {code: "NO_ANSWER", message: "No answer from the server within " +
                                   ANSWER_WITHIN_MS / 1000 + " s; reload to see what was saved"});
        }, ANSWER_WITHIN_MS);
        pending.push(entry);
        send(name, body);
      });
    },
    start: function () { if (!socket) { connect(); } },
    /* As the server's `money` filter: the currency's minor unit (`digits`), rounded down,
       thousands separated. `value` is the JSON text of a number (see parse) or a number. */
    money: function (value, digits) {
      var text = String(value);
      if (/[eE]/.test(text)) { text = Number(text).toFixed(8); }
      var negative = text.charAt(0) === "-";
      if (negative) { text = text.slice(1); }
      var parts = text.split(".");
      var whole = parts[0], fraction = (parts[1] || "");
      var cut = fraction.slice(0, digits);
      var dropped = /[1-9]/.test(fraction.slice(digits));
      while (cut.length < digits) { cut += "0"; }
      if (negative && dropped) {  // rounding down a negative amount goes away from zero
        var units = BigInt(whole + cut) + 1n;
        var s = units.toString().padStart(digits + 1, "0");
        whole = s.slice(0, s.length - digits); cut = s.slice(s.length - digits);
      }
      whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
      return (negative ? "-" : "") + whole + (digits ? "." + cut : "");
    },
    /* As the server's date format "Y-m-d H:i:s" (UTC) for an epoch-milliseconds time. */
    time: function (ms) {
      if (ms === null || ms === undefined) { return "—"; }
      var d = new Date(Number(ms));
      return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
        pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
    },
  };
})();
