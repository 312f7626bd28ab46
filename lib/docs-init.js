// Starts Swagger UI on the docs page (functions/docs.ts), in the browser. A file of its own rather
// than an inline script, so that the page's content security policy can refuse every inline script.
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
  deepLinking: true,
  displayOperationId: true,
  displayRequestDuration: true,
  // Otherwise the page asks validator.swagger.io to judge the document: no request leaves the API.
  validatorUrl: null,
});
