// The status board refreshes itself when the data changes: it follows the change stream
// (Server-Sent Events) from the position the page was rendered at and, after a change, fetches
// the same page again and swaps the board in. Without this script the page is complete; a board
// showing a chosen time (?at=) is not refreshed.
(function () {
  "use strict";
  var board = document.getElementById("board");
  var live = document.getElementById("live");
  if (!board || !live || board.dataset.live !== "yes" || !window.EventSource || !window.fetch) {
    return;
  }
  var pending = null;
  var stream = new EventSource("/v1/changes/stream?after=" + encodeURIComponent(board.dataset.seq));

  function refresh() {
    pending = null;
    fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("board");
        if (fresh) {
          board.replaceWith(fresh);
          board = fresh;
          live.textContent = "Updated at " + new Date().toLocaleTimeString() + ".";
        }
      })
      .catch(function () {
        live.textContent = "Could not refresh; reload the page to see the latest state.";
      });
  }

  stream.addEventListener("open", function () {
    live.textContent = "Live: this board updates when the data changes.";
  });
  stream.addEventListener("change", function () {
    if (pending === null) { pending = window.setTimeout(refresh, 300); }
  });
})();
