// Swagger UI's sign-in callback: the managed login sends the browser here with a code (or an
// error); this page hands it to the /docs page that opened the window, which redeems the code at
// the token endpoint with its PKCE verifier, and closes. A file, as the page's policy runs no
// inline script. A state other than the one sent is refused: the answer is not to our request.
"use strict";
(function () {
  var status = document.getElementById("status");
  var waiting = window.opener && window.opener.swaggerUIRedirectOauth2;
  if (!waiting) {
    status.textContent = "This page finishes a sign-in started from the API's documentation (/docs); open it there.";
    return;
  }
  var answer = new URLSearchParams(window.location.search);
  var auth = waiting.auth;
  function refuse(message) {
    waiting.errCb({ authId: auth.name, source: "auth", level: "error", message: message });
  }
  if (answer.get("state") !== waiting.state) {
    refuse("The sign-in came back with another request's state; authorize again.");
  } else if (answer.get("code")) {
    auth.code = answer.get("code");
    delete waiting.state;
    waiting.callback({ auth: auth, redirectUrl: waiting.redirectUrl });
  } else {
    refuse("[" + (answer.get("error") || "no_code") + "] " + (answer.get("error_description") || "The sign-in returned no code."));
  }
  window.close();
})();
