/* The staff pages' live connection: one WebSocket to /v1/events/staff (the portal session
   authenticates it), reconnecting with backoff; handlers by message name. */
(function () {
  "use strict";
  var listeners = {};
  var socket = null;
  var queue = [];
  var subscriptions = [];
  var backoff = 500;

  function url() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/events/staff";
  }

  function status(text, cls) {
    var el = document.getElementById("live-status");
    if (el) { el.textContent = text; el.className = "pill " + cls; }
  }

  function emit(message) {
    (listeners[message.msg_name] || []).concat(listeners["*"] || []).forEach(function (fn) { fn(message); });
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
    };
    socket.onmessage = function (event) { emit(JSON.parse(event.data)); };
    socket.onclose = function (event) {
      if (event.code === 4401) { status("signed out: reload the page", "out"); return; }
      status("reconnecting…", "pending");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  window.PortalLive = {
    on: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
    subscribe: function (types) {
      subscriptions = types.map(function (t) { return {source: "thrillpots", event_type: t}; });
      if (socket && socket.readyState === 1) {
        socket.send(JSON.stringify({SubscribeRequest: {events: subscriptions}}));
      }
    },
    send: function (name, body) {
      var message = {};
      message[name] = body;
      var text = JSON.stringify(message);
      if (socket && socket.readyState === 1) { socket.send(text); } else { queue.push(text); }
    },
    start: function () { if (!socket) { connect(); } },
    money: function (value) {
      return Number(value).toLocaleString("en", {minimumFractionDigits: 2, maximumFractionDigits: 2});
    },
  };
})();
