// Full-screen messages (a screen switched off, a campaign closed, the server not ready): check
// again now and then and reload once the page has something to show. A script, not a meta refresh:
// a refresh during an outage would leave the browser's error page on the screen.
(function () {
  "use strict";
  var message = document.getElementById("message");
  var url = message.dataset.retryUrl || (window.location.pathname.replace(/\/?$/, "/") + "snapshot.json");
  var delay = message.dataset.retryUrl ? 3000 : 60000;
  setInterval(function () {
    fetch(url, { cache: "no-store" }).then(function (response) {
      if (response.ok) window.location.reload();
    }).catch(function () {});
  }, delay);
})();
