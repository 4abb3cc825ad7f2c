// Swagger UI for the API's document (openapi.json beside /docs, with the tenant's managed-login
// URLs), its Authorize button signing in with the authorization code grant and PKCE. A file, as
// the page's policy runs no inline script; its settings come in the page's JSON data block.
"use strict";
(function () {
  var settings = JSON.parse(document.getElementById("docs-settings").textContent);
  var here = new URL(window.location.href);

  // initOAuth takes one client id for every scheme, and each pool has a client of its own: the
  // Authorize dialog of each scheme is given its pool's (the scheme's name is the pool's).
  function clientOfEachPool(system) {
    return {
      wrapComponents: {
        oauth2: function (Original) {
          return function (props) {
            var clientId = settings.clients[props.name];
            if (!clientId) {
              return system.React.createElement(Original, props);
            }
            var selectors = Object.assign({}, props.authSelectors, {
              getConfigs: function () {
                return Object.assign({}, props.authSelectors.getConfigs(), { clientId: clientId });
              },
            });
            return system.React.createElement(Original, Object.assign({}, props, { authSelectors: selectors }));
          };
        },
      },
    };
  }

  var ui = SwaggerUIBundle({
    url: new URL("openapi.json", here).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    filter: true,
    showExtensions: true,
    // Swagger.io's validator badge would send the document's URL to another site.
    validatorUrl: null,
    oauth2RedirectUrl: new URL(settings.redirectPath, here).href,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [clientOfEachPool],
  });
  ui.initOAuth(settings.oauth);
})();
