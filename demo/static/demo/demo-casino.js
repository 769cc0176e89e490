/* The demo casino's games: a button places a bet for the logged-in demo player through the
   page's server (which contributes as a casino's backend would) and says what it did. */
(function () {
  "use strict";
  var csrf = document.currentScript.dataset.csrf;
  var result = document.getElementById("bet-result");

  function format(locale, currency, amount) {  // the widget's formatting, once it has loaded
    return window.JackpotWidget ? window.JackpotWidget.format(locale, currency, amount) : amount + " " + currency;
  }

  function parse(text) {  // fractional numbers stay their text: money is never a float
    return JSON.parse(text, function (key, value, context) {
      if (typeof value === "number" && context && /[.eE]/.test(context.source)) { return context.source; }
      return value;
    });
  }

  function say(text, failed, amount) {
    result.textContent = text;
    result.className = failed ? "error" : "";
    if (amount !== undefined) { result.dataset.amount = amount; } else { delete result.dataset.amount; }
  }

  function outcome(name, body) {
    var money = function (value) { return format("en-GB", body.contribution_currency, value); };
    var text = name + ": " + money(body.contribution_amount) + " to the jackpot";
    if (body.tickets_awarded) { text += ", " + body.tickets_awarded + " raffle ticket" + (body.tickets_awarded > 1 ? "s" : ""); }
    if (body.win_pot_id) { text += ". You won " + money(body.win_amount) + " (" + body.win_pot_id + ")!"; }
    return text + ".";
  }

  function refusal(body) {
    if (/^OptInRequired/.test(body.message || "")) {
      return "This game feeds a jackpot you have not joined: join it in the jackpots panel first.";
    }
    return "Refused: " + body.message + " (" + body.code + ")";
  }

  document.querySelectorAll("button[data-game]").forEach(function (button) {
    button.addEventListener("click", function () {
      button.disabled = true;
      say("Playing " + button.dataset.name + "\u2026", false);
      fetch("/demo/casino/bet/" + encodeURIComponent(button.dataset.game), {
        method: "POST", headers: {"X-CSRFToken": csrf}, credentials: "same-origin"
      }).then(function (response) {
        return response.text().then(function (text) { return {ok: response.ok, body: parse(text)}; });
      }).then(function (answer) {
        if (answer.ok) {
          say(outcome(button.dataset.name, answer.body), false, answer.body.contribution_amount);
        } else {
          say(refusal(answer.body), true);
        }
      }).catch(function () {
        say("The casino could not reach the jackpot portal; try again.", true);
      }).then(function () { button.disabled = false; });
    });
  });
})();
